"""`python -m numbers_iac` runs the CLI, for machines where the console script is not on PATH."""

from numbers_iac.entry import run

run()
