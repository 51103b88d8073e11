"""Human-readable account of one document's cleaning: every line kept, moved or removed, and why."""

from __future__ import annotations

from .clean import MOVED, Article, clean
from .ruleset import RuleSet


def explain(text: str, rules: RuleSet, width: int = 110, **clean_args) -> tuple[Article, str]:
    """Clean ``text`` (``clean``'s keyword arguments) and render the account of it."""
    art = clean(text, rules, trace=True, **clean_args)
    return art, render(art, width)


def render(art: Article, width: int = 110) -> str:
    """Every line of a traced article (``clean(..., trace=True)``) as keep / MOVE / DROP and the rule,
    spans cut out of lines (line 0: the title from the page's metadata), then the fields."""
    cuts: dict[int, list[tuple[str, str]]] = {}
    line_rules = {no: rule for no, rule in ((no, a) for no, _, a in art.trace) if rule not in MOVED and rule != "keep"}
    for no, fragment, rule in art.removed:
        if line_rules.get(no) != rule:  # a span cut out of a kept or moved line, or a title suffix
            cuts.setdefault(no, []).append((rule, fragment))
    kept = sum(1 for _, _, a in art.trace if a == "keep")
    moved = sum(1 for _, _, a in art.trace if a in MOVED)
    out = [f"language {art.language or '?'}: {len(art.trace)} lines, {kept} kept, {moved} moved, {len(art.trace) - kept - moved} removed"]
    for rule, fragment in cuts.get(0, []):
        out.append(f"{0:5} CUT  {rule:<22} | {_clip(fragment, width)}  (from the title in the metadata)")
    for no, line, action in art.trace:
        verb = "keep" if action == "keep" else "MOVE" if action in MOVED else "DROP"
        label = "" if action == "keep" else action
        out.append(f"{no:5} {verb} {label:<22} | {_clip(line, width)}")
        for rule, fragment in cuts.get(no, []):
            out.append(f"{'':5} CUT  {rule:<22} | {_clip(fragment, width)}")
    out.append("")
    out.append(f"title:    {art.title or '-'}")
    out.append(f"subtitle: {art.subtitle or '-'}")
    out.append(f"byline:   {art.byline or '-'}")
    out.append(f"credits:  {', '.join(art.credits) or '-'}")
    out.append(f"tags:     {', '.join(art.tags) or '-'}")
    out.append("captions: " + ("-" if not art.captions else ""))
    out.extend(f"  - {c}" for c in art.captions)
    return "\n".join(out)


def _clip(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"
