"""``cc-reaper``: the operator's command line for the Cloud Control Request Reaper.

It drives the same service as the Lambda (``reaper.wiring``), so a sweep or a cancel from a
laptop takes exactly the decisions the function would, and records them in the same audit table.
"""
