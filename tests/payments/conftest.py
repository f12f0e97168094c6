from tests.stripe_events import linked_student, student  # noqa: F401  (fixtures)
