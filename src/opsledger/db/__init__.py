"""Database plumbing shared by every domain: base, column types, engines, sessions."""
