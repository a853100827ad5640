"""Thin adapters between the pure core and AWS (S3, SNS, DynamoDB, rules storage); boto3 is imported here only."""
