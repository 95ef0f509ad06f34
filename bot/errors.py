"""Small named exceptions of the core; the edges turn them into one clear sentence."""


class VocbotError(Exception):
    """Base class: the message is a complete sentence that says what to do next."""


class DataError(VocbotError):
    """An intents or content file is invalid; the message names the file, the intent and the field."""

    def __init__(self, path: str, message: str, intent: str | None = None, field: str | None = None,
                 line: int | None = None, where: str | None = None) -> None:
        self.path, self.intent, self.field, self.line = path, intent, field, line
        parts = [path + (f":{line}" if line else "")]
        if where:                       # a place that is not an intent, e.g. "flow student, rule grants"
            parts.append(where)
        if intent:
            parts.append(f"intent {intent}")
        if field:
            parts.append(f"field {field}")
        super().__init__(f"{', '.join(parts)}: {message}")


class ConfigError(VocbotError):
    """An environment variable or option has an invalid value."""


class StoreError(VocbotError):
    """The enquiry database cannot be opened or has the wrong schema."""


class UnknownEnquiry(VocbotError):
    """An enquiry id does not exist in the log."""


class UnknownRoute(VocbotError):
    """A route-finder request names a flow, step or option that does not exist."""

    def __init__(self, kind: str, value: str, flow: str | None = None, step: str | None = None) -> None:
        self.kind, self.value, self.flow, self.step = kind, value, flow, step
        where = {"flow": "", "step": f" in flow {flow!r}", "option": f" for step {step!r} of flow {flow!r}"}[kind]
        super().__init__(f"There is no {kind} {value!r}{where}.")


class NotYours(VocbotError):
    """A button or feedback names an enquiry that another user (or session) asked."""
