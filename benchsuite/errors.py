"""The one error type that the command line turns into a one-paragraph message and exit status 2."""


class ConfigError(ValueError):
    """Bad input from the user: a gin file, a binding, a path or a dataset that is not as expected.

    The message is a complete paragraph: what is wrong, where (file and line, binding or path), and the
    valid choices or the fix.
    """
