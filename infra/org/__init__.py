"""Organization mode: a member template for a StackSet and the central stack (issue 13)."""
