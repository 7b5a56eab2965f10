"""Organization mode, the function's side: the org kill switch a member receives through the
central SNS topic (``control``) and the central collector of every member's events
(``collector``). docs/infrastructure.md, "Organization"."""
