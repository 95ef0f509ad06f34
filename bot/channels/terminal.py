"""`vocbot chat`: a conversation in the terminal on the same engine, with numbered options to pick."""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from bot.core.engine import Engine
from bot.core.render_text import general_block, render_route_result, render_route_step
from bot.core.reply import Reply
from bot.core.routes import RouteOffer, RouteResult
from bot.errors import UnknownRoute
from bot.log.sync import SyncLogger

QUIT = {"/quit", "/exit", "/q"}
GOOD = {"/good", "/up", "+1", "👍"}
BAD = {"/bad", "/down", "-1", "👎"}
LANGS = ("zh", "en")


@dataclass(frozen=True)
class Option:
    """A numbered option: an intent to answer or a topic to open."""

    kind: str          # "intent" | "topic" | "flow" | "route" (an option of the current route-finder step) | "notify"
    id: str
    title: str
    question: str = ""  # for "notify": the question to be told about


class TerminalChat:
    """One conversation: turns typed lines into engine calls and prints the replies."""

    def __init__(self, engine: Engine, logger: SyncLogger | None = None, lang: str = "zh",
                 out: TextIO | None = None) -> None:
        self.engine = engine
        self.logger = logger
        self.lang = lang if lang in LANGS else "zh"
        self.out = out or sys.stdout
        self.options: list[Option] = []
        self.last_enquiry: str | None = None
        self.last_rateable = False
        self.route: tuple[str, dict[str, str]] | None = None   # the flow and answers while in the route finder
        self.offer: RouteOffer | None = None                    # what the last question's situation prefills
        self.last_question: str | None = None     # the last typed question (what an opt-in would be about)
        self.topic: str | None = None             # the intent last answered (what a topicless follow-up asks of)

    def say(self, text: str = "") -> None:
        """Print a block of text followed by a blank line."""
        self.out.write(text + "\n\n")
        self.out.flush()

    def message(self, key: str, **values: object) -> str:
        """An interface text in the current language."""
        return self.engine.content.message(key, self.lang, **values)

    def greet(self) -> None:
        """The welcome text, the help line and, when not logging, the trial-mode note."""
        self.say(self.message("welcome"))
        self.say(self.message("term_help"))
        if self.logger is None:
            self.say(self.message("term_not_logged"))
            return
        for question, reply in self.logger.notices(self.engine):
            self.say(self.engine.content.message("optin_notice", reply.lang, question=question) + "\n\n" + reply.answer)

    def handle(self, line: str) -> bool:
        """Act on one typed line; False when the user wants to leave."""
        text = line.strip()
        command = text.lower()
        if command in QUIT:
            return False
        if not text:
            return True
        if command in ("/help", "/?", "/start"):
            self.say(self.message("term_help"))
        elif command == "/route":
            self.start_route(*((self.offer.flow, self.offer.answers) if self.offer else (None, {})))
        elif command == "/restart" and self.route is not None:
            self.start_route(None, {})
        elif text == "0" and self.route is not None:
            self.route_back()
        elif command == "/menu":
            self.show_topics()
        elif command.startswith("/lang"):
            self.set_lang(command.removeprefix("/lang").strip())
        elif command in GOOD or command in BAD:
            self.rate(1 if command in GOOD else -1)
        elif text.isdigit() and self.options:
            self.pick(int(text))
        else:
            self.answer(self.engine.ask(text, lang=self.lang, after=self.topic), via="text")
        return True

    def set_lang(self, lang: str) -> None:
        """Switch the interface and answer language."""
        if lang not in LANGS:
            lang = "en" if self.lang == "zh" else "zh"
        self.lang = lang
        self.say(self.message("lang_set"))

    def show_topics(self) -> None:
        """Number the topics of the menu."""
        self.options = [Option("topic", t.id, t.title[self.lang]) for t in self.engine.menu.topics_for(None)]
        self.say(self.message("menu_header") + "\n" + self._numbered())

    def pick(self, number: int) -> None:
        """Act on a numbered option."""
        if not 1 <= number <= len(self.options):
            self.say(self.message("term_no_option", number=number))
            return
        option = self.options[number - 1]
        if option.kind == "notify":
            added = self.logger.opt_in(option.id, option.question, self.lang) if self.logger is not None else False
            self.options = [o for o in self.options if o.kind != "notify"]
            self.say(self.message("term_optin_recorded" if added else "optin_already"))
        if option.kind == "flow":
            self.show_route(option.id, {})
            return
        if option.kind == "route" and self.route is not None:
            flow, answers = self.route
            step_id, _, option_id = option.id.partition("=")
            self.show_route(flow, {**answers, step_id: option_id})
            return
        if option.kind == "topic":
            topic = self.engine.menu.topics[option.id]
            self.options = [Option("intent", i, self.engine.title(i, self.lang)) for i in topic.intents]
            self.say(self.message("topic_header", topic=option.title) + "\n" + self._numbered())
            return
        try:
            reply = self.engine.answer_intent(option.id, self.lang)
        except KeyError:           # cannot happen with the options we number, but never crash the chat
            self.say(self.message("term_no_option", number=number))
            return
        self.answer(reply, via="button")

    # ---- the route finder --------------------------------------------------------------------------
    def start_route(self, flow: str | None, answers: dict[str, str]) -> None:
        """Open the route finder: the choice of flow, or straight into a flow with what is known."""
        self.offer = None
        if flow is None:
            routes = self.engine.routes
            self.route = ("", {})
            self.options = [Option("flow", f.id, f.title[self.lang]) for f in routes.flows.values()]
            self.say(self.message("route_choose_flow") + "\n" + self._numbered() + "\n\n"
                     + self.message("term_route_help"))
            return
        self.show_route(flow, answers)

    def route_back(self) -> None:
        """One answer back, or the choice of flow."""
        flow, answers = self.route or ("", {})
        if not flow or not answers:
            self.start_route(None, {})
            return
        self.show_route(flow, self.engine.routes.back(flow, answers))

    def show_route(self, flow: str, answers: dict[str, str]) -> None:
        """Print the next step with numbered options, or the result with its items to open."""
        try:
            outcome = self.engine.routes.step(flow, answers, self.lang)
        except UnknownRoute:               # cannot happen with the options we number; never crash the chat
            self.start_route(None, {})
            return
        self.route = (outcome.flow, dict(outcome.answers))
        back = f"  0. {self.message('route_back')}"
        if isinstance(outcome, RouteResult):
            if self.logger is not None:
                self.last_enquiry = self.logger.route(outcome)
            self.last_rateable = False
            self.options = [Option("intent", i.intent, i.title) for i in outcome.items]
            self.say(render_route_result(self.engine, outcome) + "\n\n" + self.message("route_full_answer") + "\n"
                     + self._numbered() + "\n" + back)
            return
        self.options = [Option("route", f"{outcome.id}={o.id}", o.label) for o in outcome.options]
        self.say(render_route_step(self.engine, outcome, self.lang) + "\n" + back)

    def answer(self, reply: Reply, via: str) -> None:
        """Log a reply, print it with its numbered options, and follow its language."""
        parent = self.last_enquiry if via == "button" else None
        self.route = None
        self.offer = self.engine.routes.detect(reply.question) if via == "text" and reply.normalized else None
        if self.logger is not None:
            self.last_enquiry = self.logger(reply, via=via, parent_id=parent)
        self.lang = reply.lang
        self.topic = reply.intent if reply.decision == "answer" else None
        self.last_rateable = reply.decision == "answer"
        self.last_question = reply.question if via == "text" else None
        text = general_block(self.engine, reply) + reply.answer
        if reply.choices:
            self.options = [Option("intent", c.intent, c.title) for c in reply.choices]
            text += "\n" + self._numbered()
        elif reply.related:
            self.options = [Option("intent", c.intent, c.title) for c in reply.related]
            text += "\n\n" + self.message("related_header") + "\n" + self._numbered()
        elif reply.decision == "fallback":
            self.options = [Option("topic", t.id, t.title[self.lang]) for t in self.engine.menu.topics_for(None)]
            text += "\n\n" + self.message("menu_header") + "\n" + self._numbered()
            if self.logger is not None and self.last_enquiry and via == "text":
                # The option carries the question; it is numbered after the topics.
                self.options.append(Option("notify", self.last_enquiry, self.message("optin_button"), reply.question))
                text += f"\n  {len(self.options)}. {self.message('optin_button')}"
        else:
            self.options = []
        if self.offer is not None:
            text += "\n\n" + self.message("route_offer") + "\n" + self.message("term_route_offer")
        self.say(text)

    def rate(self, value: int) -> None:
        """👍/👎 on the last answer."""
        if not self.last_rateable:
            self.say(self.message("term_no_answer"))
            return
        if self.logger is not None and self.last_enquiry:
            self.logger.feedback(self.last_enquiry, value)
        self.last_rateable = False
        text = self.message("feedback_thanks" if value > 0 else "feedback_sorry")
        if value < 0 and self.logger is not None and self.last_enquiry and self.last_question:
            self.options = [Option("notify", self.last_enquiry, self.message("optin_button"), self.last_question)]
            text += "\n" + self._numbered()
        self.say(text)

    def _numbered(self) -> str:
        return "\n".join(f"  {n}. {option.title}" for n, option in enumerate(self.options, 1))


def run(engine: Engine, logger: SyncLogger | None, lang: str = "zh",
        read: Callable[[str], str] = input, out: TextIO | None = None, route: str | None = None) -> None:
    """The read-answer loop; ends on /quit, Ctrl-D or Ctrl-C. With `route` ("" for the choice of flow, or a
    flow id) it opens in the route finder instead of greeting."""
    if read is input and sys.stdin.isatty():
        with contextlib.suppress(ImportError):    # not every platform has it
            import readline  # noqa: F401 - imported for its side effect: line editing and history in input()
    chat = TerminalChat(engine, logger, lang, out)
    if route is None:
        chat.greet()
    else:
        chat.start_route(route or None, {})
    try:
        while True:
            try:
                line = read("> ")
            except EOFError:
                chat.out.write("\n")
                break
            if not chat.handle(line):
                break
    except KeyboardInterrupt:
        chat.out.write("\n")
    chat.say(chat.message("term_bye"))


def local_user() -> str:
    """The operating-system user, pseudonymised like any other user id when logged."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"
