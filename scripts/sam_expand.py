#!/usr/bin/env python3
"""Prints the CloudFormation JSON that the SAM transform makes of a template, offline.

Run with the Python of the SAM CLI's virtualenv (it holds `samtranslator` and `samcli`):

    .tools/sam/bin/python scripts/sam_expand.py [template.yaml]

Region, account and partition are fixed fakes (us-east-1, 123456789012, aws), parameters without a
default get a placeholder, and AWS managed policy names are looked up in the translator's bundled
list instead of IAM: nothing is read from the network or from ~/.aws. The tests read the output to
check what the deployed stack would hold (its IAM roles and policies), SAM's additions included.
"""

import json
import os
import sys

# Before boto3 is imported: a fixed region, and no local AWS configuration or credentials.
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from samcli.yamlhelper import yaml_parse  # noqa: E402
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402

PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "qalita-gitlab-sync",
}


class BundledManagedPolicies:
    """The translator's managed policy loader, answered from its bundled list (no IAM call)."""

    def load(self):
        return get_bundled_managed_policy_map("aws") or {}


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "template.yaml")
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    # `sam package` uploads each function's local code and writes its S3 address in CodeUri; the
    # transform accepts only the latter (as `sam validate` does, with a fake address).
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(properties.get("CodeUri"), str):
            if not properties["CodeUri"].startswith("s3://"):
                properties["CodeUri"] = "s3://packaged-code/function.zip"
    parameters = dict(PSEUDO_PARAMETERS)
    for name, parameter in template.get("Parameters", {}).items():
        parameters[name] = parameter.get("Default", f"placeholder-{name}")
    expanded = transform(template, parameters, BundledManagedPolicies())
    json.dump(expanded, sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
