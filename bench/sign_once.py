#!/usr/bin/env python3
"""Print one real SigV4 Authorization header produced by botocore (for a
ListTables call to 127.0.0.1), plus its X-Amz-Date. Used once to obtain a
plausible fixed header for the load driver; servers that verify signatures
would reject it for other bodies/times.

Needs botocore: bench/.venv (made by bench/run.sh for moto) has it:
  bench/.venv/bin/python bench/sign_once.py http://127.0.0.1:8000/"""
import sys, botocore.session
from botocore.awsrequest import AWSRequest
from botocore.auth import SigV4Auth
from botocore.credentials import Credentials
url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/"
body = sys.argv[2] if len(sys.argv) > 2 else "{}"
target = sys.argv[3] if len(sys.argv) > 3 else "ListTables"
req = AWSRequest(method="POST", url=url, data=body.encode(), headers={
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810." + target})
SigV4Auth(Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), "dynamodb", "us-east-1").add_auth(req)
print(req.headers["Authorization"])
print(req.headers["X-Amz-Date"])
