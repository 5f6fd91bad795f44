"""The one exception type that ends a command with a single clear line."""


class SetupError(Exception):
    """A setting, file or service the operator must fix; the CLI prints it and exits with 2."""

    def __init__(self, subject: str, problem: str) -> None:
        super().__init__(f"{subject}: {problem}")
        self.subject = subject
        self.problem = problem
