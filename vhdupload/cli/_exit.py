"""Exit codes shared by every command."""

EXIT_OK = 0
EXIT_ERROR = 1  # an error or a refusal
EXIT_USAGE = 2  # the command line itself is wrong
EXIT_FINDING = 3  # a --strict or verify finding
