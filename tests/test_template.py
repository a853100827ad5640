"""The SAM template: it lints, it builds offline, and the CloudFormation it becomes is sound.

The SAM CLI, cfn-lint and the SAM translator live in .venv-sam (their pins clash with moto/boto3 in
.venv); `make test` creates it and passes the tools as SAM_CLI / CFN_LINT. The translation runs
offline in that venv and its output is checked here: no dependency cycle (which neither
`sam validate --lint` nor cfn-lint detects), least-privilege IAM, encryption and transport, the
hardening (access logs, the trail's KMS key, CloudTrail's bucket policy, reserved concurrency,
alarms, deletion protection, a bucket name that is valid or refused), the index table's keys, the
outputs, the EventBridge filter on existing buckets and the layer's hash-pinned requirements.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "template.yaml"
SAM_VENV_BIN = REPO / ".venv-sam" / "bin"

NEW_BUCKET = "${BucketNamePrefix}-${AWS::AccountId}-${AWS::Region}"
EXISTING_BUCKET = "${ExistingBucketName}"
LOG_OBJECTS = {f"arn:${{AWS::Partition}}:s3:::{bucket}/${{LogKeyPrefix}}AWSLogs/*" for bucket in (NEW_BUCKET, EXISTING_BUCKET)}
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
INDEX_ACTIONS = {"dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"}
INTAKE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}  # AWSLambdaSQSQueueExecutionRole's
LAYER = REPO / "layers" / "trailsift"
TRAIL_ARN = "arn:${AWS::Partition}:cloudtrail:${AWS::Region}:${AWS::AccountId}:trail/${AWS::StackName}"
ACCOUNT_TRAILS = "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"
S3_IN_REGION = "s3.${AWS::Region}.amazonaws.com"
PROJECTED = ["eventID", "eventTime", "eventName", "eventSource", "region", "sourceIPAddress", "severity", "errorCode", "logFile", "rule", "principal", "account"]


# ----------------------------------------------------------------------------------- tools


def _tool(variable: str, name: str) -> Path:
    path = Path(os.environ.get(variable) or SAM_VENV_BIN / name)
    assert path.is_file() and os.access(path, os.X_OK), (
        f"{name} not found at {path} (set {variable} or run `make test`, which creates .venv-sam)"
    )
    return path


@pytest.fixture(scope="session")
def sam_cli() -> Path:
    return _tool("SAM_CLI", "sam")


@pytest.fixture(scope="session")
def cfn_lint() -> Path:
    return _tool("CFN_LINT", "cfn-lint")


def _offline_env() -> dict[str, str]:
    """No credentials, no profile, no telemetry: nothing here may talk to AWS."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(
        SAM_CLI_TELEMETRY="0",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


def _run(*command: Any, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=REPO,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


# ------------------------------------------------------------------- template and translation


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, !GetAtt, !If ...) as their long form."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)

# Runs in .venv-sam: SAM to plain CloudFormation, no managed policies (nothing asks IAM).
_TRANSLATE = r"""
import json, sys
from samtranslator.translator.transform import transform

class NoManagedPolicies:
    def load(self):
        return {}

template = json.load(sys.stdin)
for resource in template["Resources"].values():  # local code paths: `sam deploy` uploads them
    properties = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri", "DefinitionUri"):
        if isinstance(properties.get(key), str):
            properties[key] = "s3://placeholder/" + key
json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout)
"""


def translate(sam_cli: Path, template: dict[str, Any]) -> dict[str, Any]:
    proc = _run(sam_cli.parent / "python", "-c", _TRANSLATE, input=json.dumps(template, default=str), timeout=120)
    assert proc.returncode == 0, f"SAM translation failed:\n{proc.stderr}"
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), _CfnLoader)  # noqa: S506 - a SafeLoader subclass


@pytest.fixture(scope="session")
def cfn(sam_cli: Path, sam_template: dict[str, Any]) -> dict[str, Any]:
    return translate(sam_cli, copy.deepcopy(sam_template))


@pytest.fixture(scope="session")
def resources(cfn: dict[str, Any]) -> dict[str, Any]:
    return cfn["Resources"]


# --------------------------------------------------------------------------- helpers


def _sub_parts(argument: Any) -> tuple[str, dict[str, Any]]:
    return (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])


def _sub_names(text: str) -> list[str]:
    """Names in a Fn::Sub string: ${Name} and ${Resource.Attr}; ${!Literal} is no reference."""
    return [name for name in re.findall(r"\$\{([^}]+)\}", text) if not name.startswith("!")]


def references(value: Any) -> set[str]:
    """Logical names (resources, parameters, pseudo-parameters) that a value refers to."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str):
                found.add(argument)
            elif key == "Fn::GetAtt":
                target = argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
                found.add(target)
            elif key == "Fn::Sub":
                text, variables = _sub_parts(argument)
                found |= {name.split(".", 1)[0] for name in _sub_names(text) if name not in variables}
                found |= references(variables)
            else:
                found |= references(argument)
    return found


def dependency_graph(template: dict[str, Any]) -> dict[str, set[str]]:
    """Resource -> the resources it needs first (Ref, GetAtt, Sub in its Properties or its Metadata,
    which CloudFormation orders by too; DependsOn). Both sides of every Fn::If count, so the graph is
    the union of every mode's: acyclic, it is acyclic in each."""
    names = set(template["Resources"])
    graph = {}
    for name, resource in template["Resources"].items():
        depends_on = resource.get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        needed = references(resource.get("Properties", {})) | references(resource.get("Metadata", {})) | set(depends_on)
        graph[name] = needed & names  # parameters and pseudo-parameters are no resources
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A dependency cycle as [a, b, ..., a], or None when the graph is acyclic."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                return path[path.index(successor) :] + [successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def render(value: Any) -> set[str]:
    """The strings a value can evaluate to, with parameters and attributes left as ${Name}:
    Ref X -> ${X}, GetAtt X.A -> ${X.A}, Sub is substituted, If gives both branches. Anything else
    stays opaque (its JSON), which never equals an expected ARN."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return {f"${{{argument}}}"}
        if function == "Fn::GetAtt":
            return {"${%s}" % (argument if isinstance(argument, str) else ".".join(argument))}
        if function == "Fn::If":
            return render(argument[1]) | render(argument[2])
        if function == "Fn::Sub":
            text, variables = _sub_parts(argument)
            results = {text}
            for name, variable in variables.items():
                results = {result.replace(f"${{{name}}}", option) for result in results for option in render(variable)}
            return results
    return {json.dumps(value, sort_keys=True)}


def branches(value: Any) -> list[Any]:
    """Both sides of a Fn::If (nested too), without AWS::NoValue."""
    if value == {"Ref": "AWS::NoValue"}:
        return []
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        return branches(value["Fn::If"][1]) + branches(value["Fn::If"][2])
    return [value]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    listed = document["Statement"]
    listed = listed if isinstance(listed, list) else [listed]
    return [statement for item in listed for statement in branches(item)]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_match(pattern: str, text: str) -> bool:
    """EventBridge's `wildcard` operator: `*` matches any run of characters, "/" included."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, re.DOTALL) is not None


def condition_holds(template: dict[str, Any], name: str, **parameters: str) -> bool:
    """Evaluates a template condition with the parameters' defaults, overridden by `parameters`."""
    values = {key: str(p.get("Default", "")) for key, p in template["Parameters"].items()} | parameters

    def evaluate(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        ((function, argument),) = value.items()
        match function:
            case "Condition":
                return evaluate(template["Conditions"][argument])
            case "Ref":
                return values[argument]
            case "Fn::Equals":
                return str(evaluate(argument[0])) == str(evaluate(argument[1]))
            case "Fn::And":
                return all(evaluate(item) for item in argument)
            case "Fn::Or":
                return any(evaluate(item) for item in argument)
            case "Fn::Not":
                return not evaluate(argument[0])
        raise AssertionError(f"cannot evaluate {function} in condition {name}")

    unknown = set(parameters) - set(template["Parameters"])
    assert not unknown, f"no such parameters: {unknown}"
    return bool(evaluate(template["Conditions"][name]))


def accepts(template: dict[str, Any], parameter: str, value: str) -> bool:
    """Whether CloudFormation's AllowedPattern check (Java regex, whole value) would accept value."""
    return re.fullmatch(template["Parameters"][parameter]["AllowedPattern"], value) is not None


def is_tls_only_deny(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") in ("*", {"AWS": "*"})
        and str(condition.get("aws:SecureTransport")).lower() == "false"
    )


def test_rule_packs_parameter_takes_the_built_in_packs_only(sam_template: dict[str, Any]) -> None:
    """RulePacks names packs the function knows (trailsift.rules.PACKS): another name is refused at deploy."""
    from trailsift.rules import PACKS, parse_rules_setting

    for value in ("", *PACKS, ",".join(PACKS), ",".join(reversed(PACKS))):
        assert accepts(sam_template, "RulePacks", value), value
        parse_rules_setting(value)  # and the function reads it
    for value in ("cis", "default,", ",ssm", "default ssm", "Default", "ssm:/trailsift/rules"):
        assert not accepts(sam_template, "RulePacks", value), value
    assert sam_template["Parameters"]["RulePacks"]["Default"] == ""


# ------------------------------------------------------------------------------- linting


def test_sam_validate_lint_passes(sam_cli: Path) -> None:
    proc = _run(sam_cli, "validate", "--lint", "--template-file", TEMPLATE, "--region", "us-east-1", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cfn_lint_reports_nothing(cfn_lint: Path) -> None:
    proc = _run(cfn_lint, "--", TEMPLATE, timeout=180)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


# -------------------------------------------------------------------------------- build


@pytest.fixture(scope="session")
def build_dir(sam_cli: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("sam") / "build"
    proc = _run(sam_cli, "build", "--template-file", TEMPLATE, "--build-dir", build, "--parallel", timeout=600)
    assert proc.returncode == 0, f"sam build failed:\n{proc.stdout}\n{proc.stderr}"
    return build


def test_build_layer_has_the_library_and_arm64_cp314_dependencies(build_dir: Path) -> None:
    python = build_dir / "TrailsiftLayer" / "python"
    assert (python / "trailsift" / "__init__.py").is_file()
    assert (python / "trailsift" / "rules" / "default.json").is_file()
    for package in ("orjson", "isal"):
        modules = [path.name for path in (python / package).glob("*.so")]
        assert modules, f"no extension module in {package}"
        assert all(name.endswith(".cpython-314-aarch64-linux-gnu.so") for name in modules), modules
    assert (python / "aws_lambda_powertools" / "__init__.py").is_file()
    assert (python / "yaml" / "__init__.py").is_file()
    provided = [path.name for path in python.iterdir() if path.name.lower().startswith(("boto3", "botocore"))]
    assert not provided, f"the runtime provides these: {provided}"
    leftovers = [str(path) for path in python.rglob("*") if path.name == "__pycache__" or path.name.endswith(".egg-info")]
    assert not leftovers, leftovers


def test_layer_requirements_are_exact_pins_with_hashes() -> None:
    text = (LAYER / "requirements.txt").read_text().replace("\\\n", " ")
    lines = [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    pins = {}
    for requirement, *options in lines:
        name, _, version = requirement.partition("==")
        assert re.fullmatch(r"[0-9][0-9A-Za-z.]*", version), f"{requirement} is not an exact pin"
        hashes = [option.removeprefix("--hash=sha256:") for option in options]
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), requirement
        pins[name.lower()] = version
    # The layer's own dependencies and aws-lambda-powertools' (--require-hashes needs them all).
    assert set(pins) == {"orjson", "msgspec", "isal", "pyyaml", "aws-lambda-powertools", "jmespath", "typing-extensions"}
    install = next(line for line in (LAYER / "Makefile").read_text().splitlines() if "install" in line and "-r requirements.txt" in line)
    assert "--require-hashes" in install


def test_build_function_has_the_handler(build_dir: Path) -> None:
    assert (build_dir / "ProcessorFunction" / "app.py").is_file()
    assert (build_dir / "template.yaml").is_file()


# Runs the built handler with the built layer's trailsift: imports app.py and builds what an invocation
# needs (settings, rules, pipeline; clients are made on first use), then writes which modules are
# loaded, and from which file, into the file named by argv[2].
_LOAD_THE_HANDLER = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
from trailsift.deadline import Deadline
app.build_pipeline("imports", Deadline(lambda: 300_000, app.settings().deadline_margin_ms))
with open(sys.argv[2], "w") as out:
    json.dump({name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}, out)
"""
FUNCTION_ENV = {
    "TRAILSIFT_BUCKETS": "trailsift-test",
    "TRAILSIFT_ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "TRAILSIFT_INDEX_TABLE": "trailsift-index",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def test_the_layer_ships_only_what_the_function_imports(build_dir: Path, tmp_path: Path) -> None:
    """The command line (trailsift/cli/) is not in the layer, and the handler does not miss it: run with
    the layer's trailsift alone, it loads every trailsift module from there, none of trailsift.cli, and
    not boto3 (trailsift.aws makes the clients on first use)."""
    layer = build_dir / "TrailsiftLayer" / "python" / "trailsift"
    assert (layer / "pipeline.py").is_file() and not (layer / "cli").exists()
    # The packs are in it, their test records (read by `trailsift test` only) are not.
    assert (layer / "rules" / "ssm.json").is_file() and not (layer / "rules" / "cases").exists()
    shutil.copytree(layer, tmp_path / "layer" / "trailsift")  # trailsift only: the layer's dependencies are arm64 wheels
    loaded = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", _LOAD_THE_HANDLER, str(build_dir / "ProcessorFunction" / "app.py"), str(loaded)],
        env={**_offline_env(), **FUNCTION_ENV, "PYTHONPATH": str(tmp_path / "layer")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(loaded.read_text())
    ours = {name: file for name, file in modules.items() if name.split(".")[0] == "trailsift"}
    assert "trailsift.pipeline" in ours and not [name for name in ours if name.startswith("trailsift.cli")]
    elsewhere = [name for name, file in ours.items() if not Path(file).is_relative_to(tmp_path / "layer")]
    assert not elsewhere, f"not from the layer: {elsewhere}"
    assert "boto3" not in modules


def test_only_the_aws_adapters_import_boto3(build_dir: Path) -> None:
    """In what the function runs (its app.py and the layer's trailsift), boto3 and botocore are imported
    in trailsift.aws only: the handler makes its clients through trailsift.aws.clients."""
    layer = build_dir / "TrailsiftLayer" / "python"
    importers = set()
    for path in [build_dir / "ProcessorFunction" / "app.py", *(layer / "trailsift").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(name.split(".")[0] in ("boto3", "botocore") for name in names):
                importers.add(path.relative_to(build_dir).as_posix())
    assert importers and all(name.startswith("TrailsiftLayer/python/trailsift/aws/") for name in importers), sorted(importers)


# ------------------------------------------------------------------------ dependencies


def test_translated_template_has_no_dependency_cycle(cfn: dict[str, Any]) -> None:
    graph = dependency_graph(cfn)
    assert "ProcessorFunction" in graph["TrailBucket"], "the bucket's notification should name the function"
    cycle = find_cycle(graph)
    assert cycle is None, "circular dependency: " + " -> ".join(cycle or [])


def test_cycle_check_catches_a_policy_that_refs_the_bucket(sam_cli: Path, sam_template: dict[str, Any]) -> None:
    variant = copy.deepcopy(sam_template)
    function = variant["Resources"]["ProcessorFunction"]["Properties"]
    del function["Role"]  # SAM generates the role, with the policy below
    function["Policies"] = [{"S3ReadPolicy": {"BucketName": {"Ref": "TrailBucket"}}}]
    cycle = find_cycle(dependency_graph(translate(sam_cli, variant)))
    assert cycle is not None and {"TrailBucket", "ProcessorFunction"} <= set(cycle), cycle


def test_the_bucket_name_is_spelled_the_same_everywhere(resources: dict[str, Any]) -> None:
    assert render(resources["TrailBucket"]["Properties"]["BucketName"]) == {NEW_BUCKET}
    permission = resources["S3InvokePermission"]["Properties"]
    assert render(permission["SourceArn"]) == {f"arn:${{AWS::Partition}}:s3:::{NEW_BUCKET}"}
    assert render(permission["SourceAccount"]) == {"${AWS::AccountId}"}
    variables = resources["ProcessorFunction"]["Properties"]["Environment"]["Variables"]
    assert render(variables["TRAILSIFT_BUCKETS"]) == {NEW_BUCKET, EXISTING_BUCKET}
    (s3_sends,) = [s for s in statements(resources["IntakeQueuePolicy"]["Properties"]["PolicyDocument"])
                   if s.get("Principal") == {"Service": "s3.amazonaws.com"}]
    assert _conditions(s3_sends)[("ArnEquals", "aws:SourceArn")] == {f"arn:${{AWS::Partition}}:s3:::{NEW_BUCKET}"}


# ------------------------------------------------------------------------------------ IAM


def _function_role(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    role = resources["ProcessorFunction"]["Properties"]["Role"]
    assert set(role) == {"Fn::GetAtt"}, role
    name = role["Fn::GetAtt"][0]
    return name, resources[name]


def _role_policy_documents(resources: dict[str, Any]) -> Iterator[dict[str, Any]]:
    name, role = _function_role(resources)
    for policy in role["Properties"].get("Policies", []):
        for item in branches(policy):
            yield item["PolicyDocument"]
    for resource in resources.values():  # policies attached from outside the role
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            if {"Ref": name} in resource["Properties"].get("Roles", []):
                yield resource["Properties"]["PolicyDocument"]


def _allowed(action: str, resource: str) -> bool:
    service = action.split(":", 1)[0]
    if resource == "*":
        return action in XRAY_ACTIONS
    match service:
        case "s3":
            rules_object = resource.startswith("arn:${AWS::Partition}:s3:::") and "RulesObjectUri" in resource
            return (action in {"s3:GetObject", "s3:GetObjectVersion"} and resource in LOG_OBJECTS) or (
                action == "s3:GetObject" and rules_object
            )
        case "sns":
            return action == "sns:Publish" and resource == "${AlertTopic}"
        case "kms":  # publishing to the topic encrypted with this key; reading SSE-KMS log files
            alert_key = action in {"kms:GenerateDataKey*", "kms:Decrypt"} and resource == "${AlertKey.Arn}"
            return alert_key or (action == "kms:Decrypt" and resource in {"${TrailKey.Arn}", "${TrailKmsKeyArn}"})
        case "dynamodb":
            return action in INDEX_ACTIONS and resource == "${IndexTable.Arn}"
        case "sqs":  # dead letters; in IntakeMode Queue, what the event source mapping does, on the intake queue
            return (action == "sqs:SendMessage" and resource == "${FailureQueue.Arn}") or (
                action in INTAKE_ACTIONS and resource == "${IntakeQueue.Arn}"
            )
        case "ssm":
            prefix = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
            return action == "ssm:GetParameter" and resource in {f"{prefix}${{RulesParameterName}}", f"{prefix}/${{RulesParameterName}}"}
        case "logs":
            return action in {"logs:CreateLogStream", "logs:PutLogEvents"} and resource == "${ProcessorLogGroup.Arn}"
        case "events":  # the configured bus only
            return action == "events:PutEvents" and resource == EVENT_BUS
    return False


EVENT_BUS = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"


def test_function_role_is_least_privilege(resources: dict[str, Any]) -> None:
    _, role = _function_role(resources)
    assert not role["Properties"].get("ManagedPolicyArns"), "managed policies grant more than the function needs"
    granted: set[tuple[str, str]] = set()
    for document in _role_policy_documents(resources):
        for statement in statements(document):
            assert statement["Effect"] == "Allow", statement
            assert "NotAction" not in statement and "NotResource" not in statement, statement
            actions = as_list(statement["Action"])
            for action in actions:
                assert action != "*" and not action.endswith(":*"), f"wildcard action {action}"
            targets = {text for resource in as_list(statement["Resource"]) for text in render(resource)}
            for action in actions:
                for target in targets:
                    assert _allowed(action, target), f"{action} on {target} ({statement.get('Sid')})"
                    granted.add((action, target))
    needed = {
        ("s3:GetObject", f"arn:${{AWS::Partition}}:s3:::{NEW_BUCKET}/${{LogKeyPrefix}}AWSLogs/*"),
        ("s3:GetObject", f"arn:${{AWS::Partition}}:s3:::{EXISTING_BUCKET}/${{LogKeyPrefix}}AWSLogs/*"),
        ("sns:Publish", "${AlertTopic}"),
        ("dynamodb:BatchWriteItem", "${IndexTable.Arn}"),
        ("sqs:SendMessage", "${FailureQueue.Arn}"),
        *((action, "${IntakeQueue.Arn}") for action in sorted(INTAKE_ACTIONS)),
        ("events:PutEvents", EVENT_BUS),
        ("xray:PutTraceSegments", "*"),
        ("logs:PutLogEvents", "${ProcessorLogGroup.Arn}"),
    }
    assert needed <= granted, needed - granted
    assert any(action == "ssm:GetParameter" for action, _ in granted)
    assert any(action == "s3:GetObject" and "RulesObjectUri" in target for action, target in granted)


def test_rules_permissions_are_conditional(resources: dict[str, Any]) -> None:
    _, role = _function_role(resources)
    document = role["Properties"]["Policies"][0]["PolicyDocument"]
    conditional = {
        item["Fn::If"][1]["Sid"]: item["Fn::If"][0] for item in document["Statement"] if set(item) == {"Fn::If"}
    }
    assert conditional == {
        "ReadRulesParameter": "HasRulesParameter",
        "ReadRulesObject": "HasRulesObject",
        "DecryptLogFilesOfTrailKey": "CreatesTrailKey",
        "DecryptLogFilesOfGivenKey": "HasTrailKmsKeyArn",
        "PutMatchEvents": "HasEventBus",
        "ReadIntakeQueue": "IsQueueIntake",
    }


# -------------------------------------------------------------------- encryption, transport


def test_everything_is_encrypted_and_tls_only(resources: dict[str, Any]) -> None:
    assert resources["AlertTopic"]["Properties"].get("KmsMasterKeyId")
    queue = resources["FailureQueue"]["Properties"]
    assert queue.get("SqsManagedSseEnabled") is True or queue.get("KmsMasterKeyId")

    table = resources["IndexTable"]["Properties"]
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}

    bucket = resources["TrailBucket"]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms", "aws:kms:dsse")
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]

    policies = {
        "TrailBucketPolicy": ("s3:*", {"${TrailBucket.Arn}", "${TrailBucket.Arn}/*"}),
        "AccessLogBucketPolicy": ("s3:*", {"${AccessLogBucket.Arn}", "${AccessLogBucket.Arn}/*"}),
        "AlertTopicPolicy": ("sns:Publish", {"${AlertTopic}"}),
        "FailureQueuePolicy": ("sqs:*", {"${FailureQueue.Arn}"}),
    }
    for name, (action, covered) in policies.items():
        denies = [s for s in statements(resources[name]["Properties"]["PolicyDocument"]) if is_tls_only_deny(s)]
        assert denies, f"{name} lacks a deny of non-TLS requests"
        assert action in as_list(denies[0]["Action"]), name
        assert {text for r in as_list(denies[0]["Resource"]) for text in render(r)} == covered, name


def _conditions(statement: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(operator, key) -> the values a statement's Condition can hold."""
    return {
        (operator, key): {text for value in as_list(values) for text in render(value)}
        for operator, keys in statement.get("Condition", {}).items()
        for key, values in keys.items()
    }


def test_cloudtrail_may_write_only_log_files(resources: dict[str, Any]) -> None:
    allows = [s for s in statements(resources["TrailBucketPolicy"]["Properties"]["PolicyDocument"]) if s["Effect"] == "Allow"]
    assert {s["Principal"]["Service"] for s in allows} == {"cloudtrail.amazonaws.com"}
    (acl_check,) = [s for s in allows if s["Action"] == "s3:GetBucketAcl"]
    (write,) = [s for s in allows if s["Action"] == "s3:PutObject"]
    # Only conditions that cannot refuse a delivery AWS documents: the trail's ARN (an organization
    # trail's is the management account's, for member accounts' files too) and the ACL; no
    # aws:SourceAccount, which AWS's policies do not have.
    assert _conditions(acl_check) == {("ArnLike", "aws:SourceArn"): {ACCOUNT_TRAILS}}
    assert _conditions(write) == {
        ("StringEquals", "s3:x-amz-acl"): {"bucket-owner-full-control"},
        ("ArnLike", "aws:SourceArn"): {ACCOUNT_TRAILS},
    }
    targets = {text for r in as_list(write["Resource"]) for text in render(r)}
    assert targets == {
        "${TrailBucket.Arn}/${LogKeyPrefix}AWSLogs/${AWS::AccountId}/*",
        "${TrailBucket.Arn}/${LogKeyPrefix}AWSLogs/o-*/*",  # an organization trail's member accounts
    }
    trail = resources["Trail"]
    assert trail["Condition"] == "CreatesTrail" and "TrailBucketPolicy" in as_list(trail["DependsOn"])
    assert trail["Properties"]["IsMultiRegionTrail"] is True
    assert trail["Properties"]["EnableLogFileValidation"] is True


# ------------------------------------------------------------------------------ hardening


def test_trail_bucket_logs_its_access_into_a_separate_bucket(cfn: dict[str, Any], resources: dict[str, Any]) -> None:
    assert condition_holds(cfn, "LogsBucketAccess"), "access logging should be on by default"
    assert not condition_holds(cfn, "LogsBucketAccess", AccessLogging="false")
    assert not condition_holds(cfn, "LogsBucketAccess", AttachMode="ExistingBucket", ExistingBucketName="b")
    assert resources["AccessLogBucket"]["Condition"] == resources["AccessLogBucketPolicy"]["Condition"] == "LogsBucketAccess"

    logging = resources["TrailBucket"]["Properties"]["LoggingConfiguration"]["Fn::If"]
    assert logging[0] == "LogsBucketAccess" and logging[2] == {"Ref": "AWS::NoValue"}
    assert logging[1]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    prefix = logging[1]["LogFilePrefix"]
    assert prefix.endswith("/")

    log_bucket = resources["AccessLogBucket"]
    assert log_bucket["DeletionPolicy"] == log_bucket["UpdateReplacePolicy"] == "Retain"
    bucket = log_bucket["Properties"]
    assert "BucketName" not in bucket, "a generated name is never taken by a retained bucket"
    assert "LoggingConfiguration" not in bucket, "logging the log bucket into itself would loop"
    # S3 delivers access logs only to SSE-S3 buckets; with ACLs disabled, by bucket policy only.
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (expiry,) = bucket["LifecycleConfiguration"]["Rules"]
    assert expiry["Status"] == "Enabled" and expiry["ExpirationInDays"] == {"Ref": "AccessLogRetentionDays"}
    assert cfn["Parameters"]["AccessLogRetentionDays"]["MinValue"] >= 1

    document = resources["AccessLogBucketPolicy"]["Properties"]["PolicyDocument"]
    (allow,) = [s for s in statements(document) if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"} and allow["Action"] == "s3:PutObject"
    assert render(allow["Resource"]) == {f"${{AccessLogBucket.Arn}}/{prefix}*"}
    assert _conditions(allow) == {
        ("ArnLike", "aws:SourceArn"): {"${TrailBucket.Arn}"},
        ("StringEquals", "aws:SourceAccount"): {"${AWS::AccountId}"},
    }


def test_a_created_trail_encrypts_with_its_own_key(cfn: dict[str, Any], resources: dict[str, Any]) -> None:
    assert condition_holds(cfn, "CreatesTrailKey", CreateTrail="true"), "SSE-KMS should be on by default"
    assert not condition_holds(cfn, "CreatesTrailKey", CreateTrail="true", EncryptTrailWithKms="false")
    assert not condition_holds(cfn, "CreatesTrailKey")  # no trail, no key

    trail = resources["Trail"]["Properties"]
    assert trail["KMSKeyId"] == {"Fn::If": ["CreatesTrailKey", {"Fn::GetAtt": ["TrailKey", "Arn"]}, {"Ref": "AWS::NoValue"}]}
    assert trail["TrailName"] == {"Ref": "AWS::StackName"}, "the key policy spells the trail's ARN with it"

    key = resources["TrailKey"]
    assert key["Condition"] == "CreatesTrailKey" and key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain", "the retained bucket's log files need the key"
    by_sid = {s["Sid"]: s for s in statements(key["Properties"]["KeyPolicy"])}
    assert {sid: (s["Effect"], s["Principal"]) for sid, s in by_sid.items()} == {
        "AccountAdministersThroughIam": ("Allow", {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}),
        "CloudTrailEncryptsLogFiles": ("Allow", {"Service": "cloudtrail.amazonaws.com"}),
        "CloudTrailDescribesKey": ("Allow", {"Service": "cloudtrail.amazonaws.com"}),
    }
    # AWS's documented key policy for trails: data keys for this trail only, and DescribeKey.
    assert by_sid["CloudTrailEncryptsLogFiles"]["Action"] == "kms:GenerateDataKey*"
    assert _conditions(by_sid["CloudTrailEncryptsLogFiles"]) == {
        ("StringEquals", "aws:SourceArn"): {TRAIL_ARN},
        ("StringLike", "kms:EncryptionContext:aws:cloudtrail:arn"): {ACCOUNT_TRAILS},
    }
    assert by_sid["CloudTrailDescribesKey"]["Action"] == "kms:DescribeKey"
    assert _conditions(by_sid["CloudTrailDescribesKey"]) == {("StringEquals", "aws:SourceArn"): {TRAIL_ARN}}


def test_the_function_may_put_only_trailsifts_own_events_on_the_bus(cfn: dict[str, Any], resources: dict[str, Any]) -> None:
    from trailsift.sinks.eventbus import DETAIL_TYPE, SOURCE

    puts = [
        statement
        for document in _role_policy_documents(resources)
        for statement in statements(document)
        if "events:PutEvents" in as_list(statement["Action"])
    ]
    assert len(puts) == 1 and as_list(puts[0]["Action"]) == ["events:PutEvents"]
    assert render(puts[0]["Resource"]) == {EVENT_BUS}
    assert _conditions(puts[0]) == {
        ("StringEquals", "events:source"): {SOURCE},
        ("StringEquals", "events:detail-type"): {DETAIL_TYPE},
    }
    assert condition_holds(cfn, "HasEventBus", EventBusName="matches") and not condition_holds(cfn, "HasEventBus")
    assert accepts(cfn, "EventBusName", "") and accepts(cfn, "EventBusName", "org/security-matches")
    assert not accepts(cfn, "EventBusName", "arn:aws:events:us-east-1:111122223333:event-bus/x")


def test_the_function_decrypts_log_files_only_through_s3(cfn: dict[str, Any], resources: dict[str, Any]) -> None:
    decrypts = [
        statement
        for document in _role_policy_documents(resources)
        for statement in statements(document)
        if "kms:Decrypt" in as_list(statement["Action"]) and statement["Resource"] != {"Fn::GetAtt": ["AlertKey", "Arn"]}
    ]
    assert {text for s in decrypts for text in render(s["Resource"])} == {"${TrailKey.Arn}", "${TrailKmsKeyArn}"}
    for statement in decrypts:
        assert as_list(statement["Action"]) == ["kms:Decrypt"]
        assert _conditions(statement) == {("StringEquals", "kms:ViaService"): {S3_IN_REGION}}
    assert condition_holds(cfn, "HasTrailKmsKeyArn", TrailKmsKeyArn="arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab")
    assert not condition_holds(cfn, "HasTrailKmsKeyArn")
    assert accepts(cfn, "TrailKmsKeyArn", "") and accepts(cfn, "TrailKmsKeyArn", "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1a2b")
    assert not accepts(cfn, "TrailKmsKeyArn", "alias/trail") and not accepts(cfn, "TrailKmsKeyArn", "1234abcd-12ab")


def test_reserved_concurrency_is_a_parameter(cfn: dict[str, Any], resources: dict[str, Any]) -> None:
    function = resources["ProcessorFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert not condition_holds(cfn, "HasReservedConcurrency"), "unreserved by default"
    assert not condition_holds(cfn, "HasReservedConcurrency", ReservedConcurrency="0")
    assert condition_holds(cfn, "HasReservedConcurrency", ReservedConcurrency="50")
    for value in ("", "0", "1", "250"):
        assert accepts(cfn, "ReservedConcurrency", value), value
    for value in ("-1", "05", "00", "1.5", "ten"):  # "00" would reserve 0: a function that never runs
        assert not accepts(cfn, "ReservedConcurrency", value), value


def test_index_table_cannot_be_deleted_by_accident(resources: dict[str, Any]) -> None:
    table = resources["IndexTable"]
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def _valid_bucket_name(name: str) -> bool:
    """S3's rules for general purpose bucket names (the ones a prefix and hyphens can break)."""
    return (
        re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name) is not None
        and ".." not in name
        and not name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        and not name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
    )


def test_an_invalid_bucket_name_is_refused_before_anything_is_created(cfn: dict[str, Any], resources: dict[str, Any]) -> None:
    names = {text for text in render(resources["TrailBucket"]["Properties"]["BucketName"])}
    assert names == {NEW_BUCKET} and "AWS::StackName" not in NEW_BUCKET
    parameter = cfn["Parameters"]["BucketNamePrefix"]
    assert "ConstraintDescription" in parameter and "NewBucket" in parameter["Description"]
    assert accepts(cfn, "BucketNamePrefix", parameter["Default"])
    account = "123456789012"
    # The longest region names: whatever the pattern accepts makes a valid name in all of them.
    for prefix in ("trailsift", "a", "prod-trail-2", "x" * 34, "a" + "-" * 32 + "b"):
        assert accepts(cfn, "BucketNamePrefix", prefix), prefix
        for region in ("us-east-1", "ap-southeast-1", "us-isof-south-1"):
            bucket = NEW_BUCKET.replace("${BucketNamePrefix}", prefix).replace("${AWS::AccountId}", account)
            assert _valid_bucket_name(bucket.replace("${AWS::Region}", region)), (prefix, region)
    for prefix in ("", "Trailsift", "trail_sift", "-trail", "trail-", "trail.sift", "x" * 35, "xn--trail", "sthree-x", "amzn-s3-demo-x"):
        assert not accepts(cfn, "BucketNamePrefix", prefix), prefix


# ---------------------------------------------------------------------------------- index


def test_index_table_keys_and_indexes(resources: dict[str, Any]) -> None:
    table = resources["IndexTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by-rule", "by-principal", "by-account"}
    for name, partition in (("by-rule", "rule"), ("by-principal", "principal"), ("by-account", "account")):
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": partition, "KeyType": "HASH"},
            {"AttributeName": "ts", "KeyType": "RANGE"},
        ]
        assert indexes[name]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": PROJECTED}
    attributes = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert attributes == dict.fromkeys(("pk", "sk", "rule", "principal", "account", "ts"), "S")


# ----------------------------------------------------------------------- function wiring


def test_function_environment_and_runtime(resources: dict[str, Any]) -> None:
    function = resources["ProcessorFunction"]["Properties"]
    assert function["Runtime"] == "python3.14" and function["Architectures"] == ["arm64"]
    assert function["Handler"] == "app.handler" and function["TracingConfig"] == {"Mode": "Active"}
    variables = function["Environment"]["Variables"]
    assert set(variables) == {
        "TRAILSIFT_ALERT_TOPIC_ARN",
        "TRAILSIFT_INDEX_TABLE",
        "TRAILSIFT_EVENT_BUS",
        "TRAILSIFT_BUCKETS",
        "TRAILSIFT_KEY_PREFIX",
        "TRAILSIFT_RULES",
        "TRAILSIFT_RETENTION_DAYS",
        "TRAILSIFT_MAX_DECOMPRESSED_MIB",
        "TRAILSIFT_MAX_RECORD_KIB",
        "TRAILSIFT_MAX_OBJECT_MIB",
        "TRAILSIFT_FETCH_CONCURRENCY",
        "TRAILSIFT_DEADLINE_MARGIN_SECONDS",
        "TRAILSIFT_ALERT_RATE_LIMIT",
        "TRAILSIFT_ALERT_RATE_WINDOW_MINUTES",
        "TRAILSIFT_ALERT_GROUP_MAX_EVENTS",
        "TRAILSIFT_ALERT_CHATBOT",
        "TRAILSIFT_FAILURE_QUEUE_URL",
        "TRAILSIFT_ACCOUNTS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_PARAMETERS_MAX_AGE",
    }
    # The packs, then the document: settings.parse_rules_setting reads "<packs>,<document>", empty items ignored.
    assert variables["TRAILSIFT_RULES"]["Fn::Join"][0] == ","
    packs, document = variables["TRAILSIFT_RULES"]["Fn::Join"][1]
    assert packs == {"Ref": "RulePacks"}
    assert render(document) == {"ssm:${RulesParameterName}", "${RulesObjectUri}"}
    assert variables["TRAILSIFT_ALERT_CHATBOT"] == {"Ref": "AlertChatbotFormat"}  # settings reads "true"/"false"
    invoke_config = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig")["Properties"]
    assert invoke_config["MaximumRetryAttempts"] == 2 and invoke_config["MaximumEventAgeInSeconds"] == 21600
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}


def test_new_bucket_notifies_the_function_or_the_intake_queue(cfn: dict[str, Any], resources: dict[str, Any]) -> None:
    conditions = {name: resources[name].get("Condition") for name in resources}
    assert conditions["TrailBucket"] == conditions["TrailBucketPolicy"] == "IsNewBucket"
    assert conditions["ExistingBucketRule"] == "IsExistingBucket"
    assert conditions["AlertEmailSubscription"] == "HasAlertEmail"
    # Only IntakeMode Direct lets S3 or EventBridge invoke the function (Queue: the event source mapping does).
    assert conditions["S3InvokePermission"] == "NewBucketDirect"
    assert conditions["ExistingBucketRulePermission"] == "ExistingBucketDirect"
    for attach, condition in (("NewBucket", "NewBucketDirect"), ("ExistingBucket", "ExistingBucketDirect")):
        assert condition_holds(cfn, condition, AttachMode=attach)
        assert not condition_holds(cfn, condition, AttachMode=attach, IntakeMode="Queue")
    bucket = resources["TrailBucket"]
    # S3 checks it may deliver when the notification is put, so the bucket waits for the permission or
    # the queue policy; DependsOn cannot be conditional (a DependsOn on the permission fails Queue mode).
    assert "DependsOn" not in bucket
    assert bucket["Metadata"]["NotificationNeeds"] == {
        "Fn::If": ["IsDirectIntake", {"Ref": "S3InvokePermission"}, {"Ref": "IntakeQueuePolicy"}]
    }
    configuration = bucket["Properties"]["NotificationConfiguration"]
    assert set(configuration) == {"LambdaConfigurations", "QueueConfigurations"}
    to_function, to_queue = configuration["LambdaConfigurations"]["Fn::If"], configuration["QueueConfigurations"]["Fn::If"]
    assert to_function[0] == "IsDirectIntake" and to_queue[0] == "IsQueueIntake"
    assert to_function[2] == to_queue[2] == {"Ref": "AWS::NoValue"}
    ((function,), (queue,)) = to_function[1], to_queue[1]
    assert function["Function"] == {"Fn::GetAtt": ["ProcessorFunction", "Arn"]}
    assert queue["Queue"] == {"Fn::GetAtt": ["IntakeQueue", "Arn"]}
    for notification in (function, queue):
        assert notification["Event"] == "s3:ObjectCreated:*"
        rules = {rule["Name"]: render(rule["Value"]) for rule in notification["Filter"]["S3Key"]["Rules"]}
        assert rules == {"prefix": {"${LogKeyPrefix}AWSLogs/"}, "suffix": {".json.gz"}}
    permission = resources["S3InvokePermission"]["Properties"]
    assert permission["Principal"] == "s3.amazonaws.com"


def test_alarms_notify_the_alert_topic(resources: dict[str, Any]) -> None:
    function_alarms = {
        "FunctionErrorsAlarm": "Errors",
        "AsyncEventsDroppedAlarm": "AsyncEventsDropped",
        "DestinationDeliveryFailuresAlarm": "DestinationDeliveryFailures",
    }
    for name, metric in function_alarms.items():
        alarm = resources[name]["Properties"]
        assert alarm["Namespace"] == "AWS/Lambda" and alarm["Statistic"] == "Sum"
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ProcessorFunction"}}]
        assert "Condition" not in resources[name]
    for name, metric in {**function_alarms, "FailureQueueAlarm": "ApproximateNumberOfMessagesVisible"}.items():
        alarm = resources[name]["Properties"]
        assert alarm["MetricName"] == metric and alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}] and alarm["TreatMissingData"] == "notBreaching"


def test_outputs(cfn: dict[str, Any]) -> None:
    conditional = {"AccessLogBucketName": "LogsBucketAccess", "TrailKeyArn": "CreatesTrailKey", "EventBusArn": "HasEventBus"}
    conditional |= dict.fromkeys(("IntakeQueueUrl", "IntakeQueueArn", "IntakeDeadLetterQueueUrl"), "IsQueueIntake")
    assert {name: cfn["Outputs"][name].get("Condition") for name in conditional} == conditional
    assert cfn["Outputs"]["IntakeQueueUrl"]["Value"] == {"Ref": "IntakeQueue"}
    assert cfn["Outputs"]["IntakeQueueArn"]["Value"] == {"Fn::GetAtt": ["IntakeQueue", "Arn"]}
    assert cfn["Outputs"]["IntakeDeadLetterQueueUrl"]["Value"] == {"Ref": "IntakeDeadLetterQueue"}
    assert cfn["Outputs"]["AccessLogBucketName"]["Value"] == {"Ref": "AccessLogBucket"}
    assert cfn["Outputs"]["TrailKeyArn"]["Value"] == {"Fn::GetAtt": ["TrailKey", "Arn"]}
    assert render(cfn["Outputs"]["EventBusArn"]["Value"]) == {EVENT_BUS}
    expected = {
        "TrailBucketName",
        "AlertTopicArn",
        "IndexTableName",
        "FailureQueueUrl",
        "FailureQueueArn",
        "ProcessorFunctionName",
        "ProcessorFunctionArn",
        "TrailsiftLayerArn",
    }
    assert expected <= set(cfn["Outputs"]), expected - set(cfn["Outputs"])


# ----------------------------------------------------------------- existing-bucket filter


@pytest.mark.parametrize("prefix", ["", "org1/"])
def test_existing_bucket_rule_matches_log_files_only(resources: dict[str, Any], prefix: str) -> None:
    rule = resources["ExistingBucketRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "ExistingBucketName"}]
    ((wildcard,),) = [[item["wildcard"] for item in pattern["detail"]["object"]["key"]]]
    (key_pattern,) = render(wildcard)
    key_pattern = key_pattern.replace("${LogKeyPrefix}", prefix)
    logs = [
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/123456789012_CloudTrail_us-east-1_20240101T0000Z_abc.json.gz",
        "AWSLogs/o-abc123/123456789012/CloudTrail/eu-west-1/2024/01/01/123456789012_CloudTrail_eu-west-1_20240101T0000Z_abc.json.gz",
    ]
    others = [
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/01/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240101T000000Z.json.gz",
        "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2024/01/01/123456789012_CloudTrail-Insight_us-east-1_20240101T0000Z_abc.json.gz",
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/notes.txt",
    ]
    for key in logs:
        assert wildcard_match(key_pattern, prefix + key), key
    for key in others:
        assert not wildcard_match(key_pattern, prefix + key), key
    if prefix:
        assert not wildcard_match(key_pattern, logs[0]), "a key outside the prefix matched"
    (target,) = rule["Targets"]
    assert target["Arn"] == {  # IntakeMode Queue: the event goes to the intake queue, whose body it becomes
        "Fn::If": ["IsDirectIntake", {"Fn::GetAtt": ["ProcessorFunction", "Arn"]}, {"Fn::GetAtt": ["IntakeQueue", "Arn"]}]
    }
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}
    assert "RetryPolicy" in target
    permission = resources["ExistingBucketRulePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["ExistingBucketRule", "Arn"]}


# -------------------------------------------------------------------------- queue intake

QUEUE_MODES = {
    "new-bucket": {"IntakeMode": "Queue"},
    "existing-bucket": {"IntakeMode": "Queue", "AttachMode": "ExistingBucket", "ExistingBucketName": "my-trail-bucket"},
}
INTAKE_RESOURCES = {
    "IntakeQueue", "IntakeDeadLetterQueue", "IntakeQueuePolicy", "IntakeDeadLetterQueuePolicy",
    "IntakeEventSourceMapping", "IntakeQueueAgeAlarm", "IntakeDeadLetterQueueAlarm",
}
SQS_MAX_VISIBILITY_TIMEOUT = 43_200


@pytest.mark.parametrize("parameters", list(QUEUE_MODES.values()), ids=list(QUEUE_MODES))
def test_cfn_lint_reports_nothing_in_queue_mode(cfn_lint: Path, parameters: dict[str, str]) -> None:
    """cfn-lint weighs every combination of conditions by itself (a reference to a resource that some
    combination leaves out is W1001: the next test), so test_cfn_lint_reports_nothing covers both intake
    modes already; these runs also resolve the template with IntakeMode=Queue, as a deployment would."""
    proc = _run(cfn_lint, "--parameters", *(f"{key}={value}" for key, value in parameters.items()), "--", TEMPLATE, timeout=180)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_cfn_lint_sees_the_intake_queue_named_outside_queue_mode(
    cfn_lint: Path, sam_template: dict[str, Any], tmp_path: Path
) -> None:
    variant = copy.deepcopy(sam_template)
    variant["Resources"]["ExistingBucketRule"]["Properties"]["Targets"][0]["Arn"] = {"Fn::GetAtt": ["IntakeQueue", "Arn"]}
    path = tmp_path / "template.json"
    path.write_text(json.dumps(variant, default=str))
    proc = _run(cfn_lint, "--", path, timeout=180)
    assert proc.returncode != 0 and "W1001" in proc.stdout and "IntakeQueue" in proc.stdout, proc.stdout + proc.stderr


def rule_holds(template: dict[str, Any], name: str, **parameters: str) -> bool:
    """Whether the template's Rule ``name`` lets a stack be made with these parameters (the defaults
    otherwise): its RuleCondition is false or all its Assertions hold. Parameter values are strings, as
    CloudFormation gives them to Rules."""
    values = {key: str(p.get("Default", "")) for key, p in template["Parameters"].items()} | parameters
    assert not set(parameters) - set(template["Parameters"]), "no such parameter"

    def evaluate(value: Any) -> Any:
        if not isinstance(value, dict):
            return [evaluate(item) for item in value] if isinstance(value, list) else value
        ((function, argument),) = value.items()
        match function:
            case "Ref":
                return values[argument]
            case "Fn::Equals":
                return str(evaluate(argument[0])) == str(evaluate(argument[1]))
            case "Fn::Contains":
                return str(evaluate(argument[1])) in [str(item) for item in evaluate(argument[0])]
            case "Fn::And":
                return all(evaluate(item) for item in argument)
            case "Fn::Or":
                return any(evaluate(item) for item in argument)
            case "Fn::Not":
                return not evaluate(argument[0])
        raise AssertionError(f"cannot evaluate {function} in rule {name}")

    rule = template["Rules"][name]
    if "RuleCondition" in rule and not evaluate(rule["RuleCondition"]):
        return True
    return all(evaluate(assertion["Assert"]) for assertion in rule["Assertions"])


def test_a_batch_over_ten_messages_needs_a_batching_window(sam_template: dict[str, Any]) -> None:
    """Lambda refuses an SQS mapping with BatchSize over 10 and no batching window: the template says so
    before anything is created."""
    rule = "QueueBatchOverTenNeedsWindow"
    assert all(rule_holds(sam_template, name) for name in sam_template["Rules"]), "the defaults must deploy"
    assert rule_holds(sam_template, rule, IntakeMode="Queue"), "the queue mode's defaults must deploy"
    for size in ("1", "5", "10"):
        assert rule_holds(sam_template, rule, IntakeMode="Queue", QueueBatchSize=size, QueueBatchingWindowSeconds="0")
    for size in ("11", "100", "10000"):
        assert not rule_holds(sam_template, rule, IntakeMode="Queue", QueueBatchSize=size, QueueBatchingWindowSeconds="0")
        assert rule_holds(sam_template, rule, IntakeMode="Queue", QueueBatchSize=size, QueueBatchingWindowSeconds="1")
    assert rule_holds(sam_template, rule, QueueBatchSize="100", QueueBatchingWindowSeconds="0"), "Direct: no mapping"
    parameters = sam_template["Parameters"]
    bounds = {name: (parameters[name]["MinValue"], parameters[name]["MaxValue"], parameters[name]["Default"])
              for name in ("QueueBatchSize", "QueueBatchingWindowSeconds", "QueueMaximumConcurrency")}
    assert bounds == {  # AWS's limits for an SQS event source mapping (standard queue), and the defaults
        "QueueBatchSize": (1, 10_000, 100),
        "QueueBatchingWindowSeconds": (0, 300, 30),
        "QueueMaximumConcurrency": (2, 1000, 10),
    }
    assert parameters["IntakeMode"]["AllowedValues"] == ["Direct", "Queue"] and parameters["IntakeMode"]["Default"] == "Direct"


def test_intake_resources_exist_in_queue_mode_only(cfn: dict[str, Any], resources: dict[str, Any]) -> None:
    assert {name: resources[name].get("Condition") for name in INTAKE_RESOURCES} == dict.fromkeys(INTAKE_RESOURCES, "IsQueueIntake")
    assert not condition_holds(cfn, "IsQueueIntake") and condition_holds(cfn, "IsDirectIntake")
    assert condition_holds(cfn, "IsQueueIntake", IntakeMode="Queue") and not condition_holds(cfn, "IsDirectIntake", IntakeMode="Queue")
    mappings = [name for name, resource in resources.items() if resource["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mappings == ["IntakeEventSourceMapping"], "the only way a queue invokes the function"


def test_the_event_source_mapping_reports_batch_item_failures(resources: dict[str, Any]) -> None:
    mapping = resources["IntakeEventSourceMapping"]["Properties"]
    assert mapping["FunctionName"] == {"Ref": "ProcessorFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["IntakeQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], "or a failed file redelivers its whole batch"
    assert mapping["BatchSize"] == {"Ref": "QueueBatchSize"}
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "QueueBatchingWindowSeconds"}
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "QueueMaximumConcurrency"}}


def test_the_intake_queue_outlasts_the_function_and_ends_in_its_dead_letter_queue(
    cfn: dict[str, Any], resources: dict[str, Any]
) -> None:
    queue = resources["IntakeQueue"]["Properties"]
    policy = queue["RedrivePolicy"]
    assert policy["deadLetterTargetArn"] == {"Fn::GetAtt": ["IntakeDeadLetterQueue", "Arn"]}
    assert policy["maxReceiveCount"] >= 5, "AWS's least for a Lambda source: throttled deliveries count"
    # At least the function's timeout (Lambda refuses the mapping otherwise), 6 times it as AWS advises,
    # for every Timeout the template accepts.
    assert resources["ProcessorFunction"]["Properties"]["Timeout"] == {"Ref": "Timeout"}
    (visibility,) = render(queue["VisibilityTimeout"])
    timeout = cfn["Parameters"]["Timeout"]
    for seconds in range(int(timeout["MinValue"]), int(timeout["MaxValue"]) + 1):
        value = int(visibility.replace("${Timeout}", str(seconds)))
        assert 6 * seconds <= value <= SQS_MAX_VISIBILITY_TIMEOUT, (seconds, value)
    dead = resources["IntakeDeadLetterQueue"]["Properties"]
    # A message keeps its first enqueue time in the dead-letter queue: it must have time there too.
    assert dead["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"] >= 4 * 24 * 3600
    assert "RedrivePolicy" not in dead


def test_every_queue_is_encrypted_and_tls_only(resources: dict[str, Any]) -> None:
    queues = [name for name, resource in resources.items() if resource["Type"] == "AWS::SQS::Queue"]
    assert {"FailureQueue", "IntakeQueue", "IntakeDeadLetterQueue"} <= set(queues)
    for name in queues:
        queue = resources[name]["Properties"]
        # SSE-SQS, which S3 and EventBridge can send to (the AWS managed KMS key would refuse them)
        assert queue.get("SqsManagedSseEnabled") is True or queue.get("KmsMasterKeyId"), name
        policies = [
            resource for resource in resources.values()
            if resource["Type"] == "AWS::SQS::QueuePolicy" and {"Ref": name} in resource["Properties"]["Queues"]
        ]
        assert policies and all(p.get("Condition") == resources[name].get("Condition") for p in policies), name
        denies = [s for p in policies for s in statements(p["Properties"]["PolicyDocument"]) if is_tls_only_deny(s)]
        assert denies and "sqs:*" in as_list(denies[0]["Action"]), f"{name} lacks a deny of non-TLS requests"
        assert {text for r in as_list(denies[0]["Resource"]) for text in render(r)} == {f"${{{name}.Arn}}"}, name


def test_only_the_trail_bucket_or_the_rule_may_send_to_the_intake_queue(resources: dict[str, Any]) -> None:
    document = resources["IntakeQueuePolicy"]["Properties"]["PolicyDocument"]
    conditional = [item for item in document["Statement"] if set(item) == {"Fn::If"}]
    assert [item["Fn::If"][0] for item in conditional] == ["IsNewBucket"], "one sender per attach mode"
    allows = {s["Principal"]["Service"]: s for s in statements(document) if s["Effect"] == "Allow"}
    assert set(allows) == {"s3.amazonaws.com", "events.amazonaws.com"}
    for statement in allows.values():
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == {"Fn::GetAtt": ["IntakeQueue", "Arn"]}
    assert _conditions(allows["s3.amazonaws.com"]) == {
        ("ArnEquals", "aws:SourceArn"): {f"arn:${{AWS::Partition}}:s3:::{NEW_BUCKET}"},
        ("StringEquals", "aws:SourceAccount"): {"${AWS::AccountId}"},
    }
    assert _conditions(allows["events.amazonaws.com"]) == {("ArnEquals", "aws:SourceArn"): {"${ExistingBucketRule.Arn}"}}
    dead = statements(resources["IntakeDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"])
    assert [s["Effect"] for s in dead] == ["Deny"], "only SQS's redrive puts messages there"


def test_the_bucket_waits_for_what_its_notification_needs_without_a_cycle(cfn: dict[str, Any]) -> None:
    graph = dependency_graph(cfn)
    assert {"S3InvokePermission", "IntakeQueuePolicy", "IntakeQueue", "ProcessorFunction"} <= graph["TrailBucket"]
    assert "TrailBucket" not in graph["IntakeQueuePolicy"], "the policy spells the bucket's name"
    assert {"ProcessorFunction", "IntakeQueue"} <= graph["IntakeEventSourceMapping"]
    role, _ = _function_role(cfn["Resources"])
    assert "IntakeQueue" in graph[role], "the role may read the queue before the mapping is made"
    assert {"IntakeQueue", "ExistingBucketRule"} <= graph["IntakeQueuePolicy"]
    assert find_cycle(graph) is None


def test_intake_alarms_notify_the_alert_topic(resources: dict[str, Any]) -> None:
    age = resources["IntakeQueueAgeAlarm"]["Properties"]
    metrics = {metric["Id"]: metric for metric in age["Metrics"]}
    stat = metrics["age"]["MetricStat"]
    assert stat["Metric"] == {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateAgeOfOldestMessage",
        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["IntakeQueue", "QueueName"]}}],
    }
    assert stat["Stat"] == "Maximum" and metrics["age"]["ReturnData"] is False
    # The age in visibility timeouts: the same "${Timeout}0" as the queue's, so that one retry (a file
    # answered as failed comes back after one) stays under the threshold and a second in a row does not.
    (visibility,) = render(resources["IntakeQueue"]["Properties"]["VisibilityTimeout"])
    (expression,) = [metric for metric in metrics.values() if metric.get("ReturnData", True)]
    assert render(expression["Expression"]) == {f"age / {visibility}"}
    assert 1 < age["Threshold"] < 2 and age["ComparisonOperator"] == "GreaterThanThreshold"
    dead = resources["IntakeDeadLetterQueueAlarm"]["Properties"]
    assert (dead["Namespace"], dead["MetricName"], dead["Statistic"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
    assert dead["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["IntakeDeadLetterQueue", "QueueName"]}}]
    assert dead["Threshold"] == 1 and dead["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    for alarm in (age, dead):
        assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}] and alarm["TreatMissingData"] == "notBreaching"
        assert alarm["EvaluationPeriods"] == 1


# ------------------------------------------------------------------------------ backfill

STATE_MACHINE = REPO / "statemachine" / "backfill.asl.json"
BACKFILL_SUBSTITUTIONS = {
    "ProcessorFunctionArn": {"Fn::GetAtt": ["ProcessorFunction", "Arn"]},
    "BackfillBucketName": {"Ref": "BackfillBucket"},
    "BackfillMaxConcurrency": {"Ref": "BackfillMaxConcurrency"},
    "BackfillToleratedFailurePercentage": {"Ref": "BackfillToleratedFailurePercentage"},
}
MANIFESTS = "${BackfillBucket.Arn}/manifests/*"
REPORTS = "${BackfillBucket.Arn}/reports/*"
CHILD_EXECUTIONS = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${BackfillStateMachine.Name}/*"


def backfill_definition(values: dict[str, str]) -> dict[str, Any]:
    """The definition file as Step Functions gets it: each ${Name} replaced by its substitution's value."""
    text = STATE_MACHINE.read_text()
    assert set(re.findall(r"\$\{([^}]*)\}", text)) == set(values), "substitutions used and given differ"
    for name, value in values.items():
        text = text.replace("${%s}" % name, value)
    definition: dict[str, Any] = json.loads(text)
    return definition


def test_backfill_state_machine_is_a_distributed_map_over_a_manifest_of_batches(
    cfn: dict[str, Any], sam_template: dict[str, Any], resources: dict[str, Any]
) -> None:
    machine = sam_template["Resources"]["BackfillStateMachine"]["Properties"]
    assert machine["Type"] == "STANDARD" and machine["DefinitionUri"] == "statemachine/backfill.asl.json"
    assert machine["DefinitionSubstitutions"] == BACKFILL_SUBSTITUTIONS
    assert machine["Role"] == {"Fn::GetAtt": ["BackfillStateMachineRole", "Arn"]}
    translated = resources["BackfillStateMachine"]
    assert translated["Type"] == "AWS::StepFunctions::StateMachine"
    assert translated["Properties"]["DefinitionSubstitutions"] == BACKFILL_SUBSTITUTIONS

    function = "arn:aws:lambda:us-east-1:123456789012:function:trailsift-ProcessorFunction-X"
    definition = backfill_definition(
        {"ProcessorFunctionArn": function, "BackfillBucketName": "backfill-bucket", "BackfillMaxConcurrency": "10", "BackfillToleratedFailurePercentage": "5"}
    )
    (name,) = definition["States"]
    batches = definition["States"][name]
    assert definition["StartAt"] == name and batches["Type"] == "Map" and batches["End"] is True
    assert batches["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert batches["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "backfill-bucket", "Key.$": "$.manifestKey"},
    }
    assert "ItemBatcher" not in batches, "the manifest holds the batches (the planner sizes them)"
    assert batches["ResultWriter"] == {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "backfill-bucket", "Prefix": "reports"},
    }
    assert (batches["MaxConcurrency"], batches["ToleratedFailurePercentage"]) == (10, 5)
    processor = batches["ItemProcessor"]
    (task,) = processor["States"].values()
    assert processor["StartAt"] in processor["States"] and task["End"] is True
    assert task["Resource"] == "arn:aws:states:::lambda:invoke"
    assert task["Parameters"] == {"FunctionName": function, "Payload.$": "$"}  # the batch is the event
    assert task["OutputPath"] == "$.Payload"  # the function's answer is the run report's entry
    retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
    assert {"InvocationFailed", "Lambda.TooManyRequestsException", "Lambda.ServiceException"} <= retried
    assert not retried & {"States.ALL", "States.TaskFailed", "UnknownTrigger"}, "a batch that cannot be read is not retried"

    parameters = cfn["Parameters"]
    assert (parameters["BackfillMaxConcurrency"]["Type"], parameters["BackfillMaxConcurrency"]["MinValue"]) == ("Number", 1)
    assert parameters["BackfillMaxConcurrency"]["Default"] <= 100
    tolerated = parameters["BackfillToleratedFailurePercentage"]
    assert (tolerated["Type"], tolerated["MinValue"], tolerated["MaxValue"]) == ("Number", 0, 100)


def _backfill_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    role = resources["BackfillStateMachineRole"]["Properties"]
    documents = [item["PolicyDocument"] for policy in role.get("Policies", []) for item in branches(policy)]
    documents += [
        resource["Properties"]["PolicyDocument"]
        for resource in resources.values()
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and {"Ref": "BackfillStateMachineRole"} in resource["Properties"].get("Roles", [])
    ]
    return [statement for document in documents for statement in statements(document)]


def test_backfill_role_is_least_privilege(resources: dict[str, Any]) -> None:
    role = resources["BackfillStateMachineRole"]["Properties"]
    assert not role.get("ManagedPolicyArns")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert _conditions(trust) == {("StringEquals", "aws:SourceAccount"): {"${AWS::AccountId}"}}
    granted: set[tuple[str, str]] = set()
    for statement in _backfill_statements(resources):
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        assert "Condition" not in statement
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                granted |= {(action, text) for text in render(resource)}
    assert granted == {
        ("lambda:InvokeFunction", "${ProcessorFunction.Arn}"),
        ("s3:GetObject", MANIFESTS),
        ("s3:PutObject", REPORTS),
        ("s3:GetObject", REPORTS),
        ("s3:ListMultipartUploadParts", REPORTS),
        ("s3:AbortMultipartUpload", REPORTS),
        ("states:StartExecution", "${BackfillStateMachine}"),
        ("states:DescribeExecution", CHILD_EXECUTIONS),
        ("states:StopExecution", CHILD_EXECUTIONS),
    }


def test_every_bucket_is_encrypted_private_and_tls_only(resources: dict[str, Any]) -> None:
    buckets = [name for name, resource in resources.items() if resource["Type"] == "AWS::S3::Bucket"]
    assert "BackfillBucket" in buckets
    policies = [resource["Properties"] for resource in resources.values() if resource["Type"] == "AWS::S3::BucketPolicy"]
    for name in buckets:
        bucket = resources[name]["Properties"]
        (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms", "aws:kms:dsse"), name
        assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
            ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
        ), name
        assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}], name
        denies = [
            statement
            for policy in policies
            if policy["Bucket"] == {"Ref": name}
            for statement in statements(policy["PolicyDocument"])
            if is_tls_only_deny(statement)
        ]
        assert denies and "s3:*" in as_list(denies[0]["Action"]), f"{name} lacks a deny of non-TLS requests"
        assert {text for r in as_list(denies[0]["Resource"]) for text in render(r)} == {f"${{{name}.Arn}}", f"${{{name}.Arn}}/*"}


def test_backfill_runs_expire_and_the_cli_finds_them_by_the_outputs(cfn: dict[str, Any], resources: dict[str, Any]) -> None:
    bucket = resources["BackfillBucket"]
    assert "BucketName" not in bucket["Properties"], "a generated name: a retained bucket is never in the way"
    (expiry,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert expiry["Status"] == "Enabled" and 1 <= expiry["ExpirationInDays"] <= 90 and "Prefix" not in expiry
    assert cfn["Outputs"]["BackfillStateMachineArn"]["Value"] == {"Ref": "BackfillStateMachine"}
    assert cfn["Outputs"]["BackfillBucketName"]["Value"] == {"Ref": "BackfillBucket"}
    graph = dependency_graph(cfn)
    assert {"BackfillStateMachine", "BackfillStateMachineRole"} <= graph["BackfillStateMachinePolicy"]
    assert "BackfillStateMachine" not in graph["BackfillStateMachineRole"], "the role cannot name the state machine"
