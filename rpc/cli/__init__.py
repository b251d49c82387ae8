"""The `lms` command, one module per command group."""
