"""Errors whose message is for the user: the CLI prints them in one line and exits 2."""


class UsageError(ValueError):
    """A command line that cannot work."""


def user_errors() -> tuple[type[BaseException], ...]:
    from dreamreel.engine.media import MediaError
    from dreamreel.pipelines.base import SettingsError
    from dreamreel.weights import WeightsError

    return (UsageError, SettingsError, WeightsError, MediaError)
