"""The web pages: server-rendered HTML for officers, reviewers, supervisors, auditors and admins."""
