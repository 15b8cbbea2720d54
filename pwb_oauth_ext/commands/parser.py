"""The argument parser of ``pwb-oauth``: Pywikibot's option form, with GNU forms as aliases.

Every option a command declares as ``--name`` is also ``-name`` (shown first in
the help), and ``-name:value`` is read as ``-name=value``, so ``check -json
-site:wikipedia:en`` and ``check --json --site wikipedia:en`` are the same
command line. This is a property of the parser class: every subparser (each
command's, and the ``store`` actions') is one, whoever adds its options, and a
document generated from ``build_parser()`` shows what the command accepts.
Not a command: the commands' parsers are built in ``commands/main.py``.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from typing import Any


def pywikibot_form(option: str) -> str | None:
    """``--json`` -> ``-json``; None for a short option or one that is already single-dash."""
    if option.startswith('--') and len(option) > 3:
        return option[1:]
    return None


def _is_single_dash_long(option: str) -> bool:
    return option.startswith('-') and not option.startswith('--') and len(option) > 2


class HelpFormatter(argparse.HelpFormatter):
    """Shows an option with a value as ``-site:FAMILY:CODE, --site FAMILY:CODE``."""

    def _format_usage(self, usage: Any, actions: Any, groups: Any, prefix: Any) -> str:
        text = super()._format_usage(usage, actions, groups, prefix)
        for action in actions:   # "[-site FAMILY:CODE]" -> "[-site:FAMILY:CODE]"
            if action.option_strings and action.nargs != 0 \
                    and _is_single_dash_long(action.option_strings[0]):
                metavar = self._format_args(
                    action, self._get_default_metavar_for_optional(action))
                option = action.option_strings[0]
                text = text.replace(f'{option} {metavar}', f'{option}:{metavar}')
        return text

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings or action.nargs == 0:
            return super()._format_action_invocation(action)
        metavar = self._format_args(action, self._get_default_metavar_for_optional(action))
        forms = []
        for option in action.option_strings:
            forms.append(f'{option}:{metavar}' if _is_single_dash_long(option)
                         else f'{option} {metavar}')
        return ', '.join(forms)


class PywikibotStyleParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that takes Pywikibot's ``-name`` and ``-name:value`` too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault('formatter_class', HelpFormatter)
        kwargs.setdefault('allow_abbrev', False)   # -s must not mean -site or -show
        super().__init__(*args, **kwargs)

    def add_argument(self, *names: Any, **kwargs: Any) -> argparse.Action:
        """``--name`` is registered as ``-name, --name`` (Pywikibot's form first)."""
        strings = list(names)
        if strings and all(isinstance(name, str) and name.startswith('-') for name in strings):
            extra = [form for form in map(pywikibot_form, strings)
                     if form is not None and form not in strings]
            strings = extra + strings
        return super().add_argument(*strings, **kwargs)

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: Any = None) -> Any:
        if args is not None:
            args = [self.normalize(arg) for arg in args]
        return super().parse_known_args(args, namespace)

    def normalize(self, arg: str) -> str:
        """``-name:value`` -> ``-name=value`` when ``-name`` is one of this parser's options."""
        if arg.startswith('-') and not arg.startswith('--') and ':' in arg:
            name, _, value = arg.partition(':')
            if name in self._option_string_actions and '=' not in name:
                return f'{name}={value}'
        return arg

    def option_names(self) -> set[str]:
        """Every option string of this parser and of the subparsers below it."""
        names = set(self._option_string_actions)
        for sub in subparsers_of(self):
            if isinstance(sub, PywikibotStyleParser):
                names |= sub.option_names()
        return names


def subparsers_of(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parsers of ``parser``'s subcommands (each once)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: list[argparse.ArgumentParser] = []
            for sub in action.choices.values():
                if not any(sub is other for other in seen):
                    seen.append(sub)
                    yield sub


def command_parser(parser: argparse.ArgumentParser,
                   command: str | None) -> PywikibotStyleParser | None:
    """The subparser of ``command``, or None for an unknown (or no) command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            found = action.choices[command]
            return found if isinstance(found, PywikibotStyleParser) else None
    return None
