"""boto3 adapters behind the ports. Each turns botocore's errors into the domain's."""
