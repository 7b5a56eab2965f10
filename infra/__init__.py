"""The CDK app of the Cloud Control Request Reaper: one construct per concern, one stack."""
