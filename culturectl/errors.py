"""The one exception culturectl raises for problems a user can fix."""


class CulturectlError(Exception):
    """A failure caused by input or environment. The CLI prints its message as one line
    on stderr and exits with code 1; the message names the value and the fix."""
