"""Persistence of the billing database: SQLAlchemy models, Alembic migrations and a repository.

Activities are the only writers; the CLI reads. Callers get billing values or the small records of
`store.records`, never ORM rows.
"""
