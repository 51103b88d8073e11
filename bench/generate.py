"""Deterministic seed-style corpora of any size, with per-line ground truth.

Each document is a German news text like the seeds: maybe a headline, paragraphs assembled
from a sentence bank (names, places and numbers varied so that no two documents are equal),
and the seeds' kinds of boilerplate between them: ad placeholders, comment widgets, source
labels, "Lesen Sie auch" teasers, tag slugs, WordPress comment forms; plus a photo caption and
a byline. Every line is labelled (content, title, caption, byline, boilerplate).

With ``--syndicated N`` the documents are agency copy: stories told by N outlets each (so every
article has N - 1 near-copies), each copy the story's sentences with the outlet's own edits (a
dateline, a paragraph dropped, a sentence reworded or added) and its own boilerplate.

    python -m bench.generate --docs 100000 --format files --out /tmp/corpus [--syndicated 60]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

NAMES = ["Wladimir Putin", "Kim Jong Un", "Dmitri Peskow", "Sergej Lawrow", "Olaf Scholz", "Annalena Baerbock",
         "Emmanuel Macron", "Antony Blinken", "Wolodymyr Selenskyj", "Ursula von der Leyen", "Jens Stoltenberg"]
PLACES = ["Moskau", "Pjöngjang", "Kiew", "Berlin", "Brüssel", "Wladiwostok", "Washington", "Peking", "Seoul", "Charkiw"]
TOPICS = ["die Zusammenarbeit im Verteidigungsbereich", "neue Sanktionen", "die Lieferung von Munition",
          "den Gefangenenaustausch", "die Lage an der Front", "die Energieversorgung", "die Getreideexporte",
          "ein Treffen der Außenminister", "die Raketentests", "die humanitäre Hilfe"]
SENTENCES = [
    "{name} erklärte am {day} in {place}, man werde {topic} weiter vorantreiben.",
    "Nach Angaben aus {place} wurden seit Jahresbeginn mehr als {num} Fälle registriert.",
    "Der Kreml wies die Vorwürfe zurück und sprach von einer gezielten Kampagne gegen {place}.",
    "Beobachter in {place} werten die Äußerungen von {name} als deutliches Signal an den Westen.",
    "„Wir werden unsere Interessen entschlossen verteidigen“, sagte {name} vor Journalisten.",
    "Bereits im vergangenen Jahr hatten beide Seiten über {topic} verhandelt, ohne Ergebnis.",
    "Die Regierung in {place} kündigte an, bis zum Herbst {num} zusätzliche Soldaten zu entsenden.",
    "Wie die Nachrichtenagentur berichtete, trafen sich die Delegationen am {day} hinter verschlossenen Türen.",
    "Experten gehen davon aus, dass {topic} die Beziehungen in den kommenden Monaten prägen wird.",
    "Ein Sprecher des Außenministeriums in {place} wollte sich zu den Berichten nicht äußern.",
    "Die Preise für Strom und Gas stiegen in {place} zuletzt um {num} Prozent.",
    "{name} betonte, dass {topic} nicht gegen Drittstaaten gerichtet sei.",
    "Satellitenbilder zeigen nach Einschätzung von Analysten neue Anlagen nahe {place}.",
    "Die Opposition warf der Führung vor, {topic} aus innenpolitischen Gründen zu verzögern.",
    "Am {day} sollen in {place} weitere Gespräche auf Arbeitsebene stattfinden.",
    "Nach offiziellen Angaben wurden dabei {num} Menschen verletzt, darunter mehrere Kinder.",
    "Die Europäische Union prüft nach Angaben von {name} weitere Schritte.",
    "In {place} versammelten sich am Abend rund {num} Menschen zu einer Kundgebung.",
    "Die Ankündigung kam überraschend, da {topic} zuletzt als festgefahren galt.",
    "{name} sprach von einem „historischen Moment“ für die Region um {place}.",
]
TITLES = ["{name} und {name2} wollen {topic} verstärken", "Streit um {topic}: {place} reagiert scharf",
          "{name} kündigt Gespräche in {place} an", "Neue Spannungen zwischen {place} und {place2}"]
DAYS = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
OUTLETS = ["Euro News", "Euractiv", "Interfax", "Reuters", "KCNA", "TASS"]
TEASERS = ["Perfect Diver – Tauchen lernen im Urlaub", "So sparen Sie beim Heizen", "Die besten Reiseziele im Herbst"]


# Inserted at random into sentences so that unrelated documents share few 5-word shingles, as
# real articles do (without them every document would be a near-copy of every other).
FILLERS = ("offenbar bislang zunächst erneut deutlich weiterhin kürzlich angeblich ebenfalls inzwischen "
           "womöglich jedenfalls nunmehr allerdings durchaus vermutlich tatsächlich schließlich jedoch "
           "gleichwohl mittlerweile insbesondere ausdrücklich offiziell überraschend endgültig teilweise").split()


def _fill(rng: random.Random, template: str) -> str:
    text = template.format(name=rng.choice(NAMES), name2=rng.choice(NAMES), place=rng.choice(PLACES),
                           place2=rng.choice(PLACES), topic=rng.choice(TOPICS), day=rng.choice(DAYS),
                           num=rng.randint(2, 9999))
    words = text.split(" ")
    for _ in range(len(words) // 4):
        words.insert(rng.randint(1, len(words) - 1), rng.choice(FILLERS))
    return " ".join(words)


def boilerplate_line(rng: random.Random) -> str:
    kind = rng.randrange(9)
    return [
        lambda: f"[Anzeige_{rng.randint(1, 9)}]",
        lambda: f"Kommentar ({rng.randint(0, 12)})",
        lambda: rng.choice(["Quelle", "Quellenlink"]),
        lambda: f"Lesen Sie auch  {rng.choice(TEASERS)}",
        lambda: f"source-{rng.randint(1, 999)}",
        lambda: rng.choice(["rrt-allgemeines", "rrt-politik", "news-ausland"]),
        lambda: "Leave a Reply",
        lambda: "Your email address will not be published. Required fields are marked *",
        lambda: f"Lesen Sie mehr mit {rng.choice(['Euractiv', 'Euro News'])}",
    ][kind]()


def make_document(rng: random.Random, target_bytes: int = 3000) -> list[tuple[str, str]]:
    """One document as (line, label) pairs; blank lines separate paragraphs."""
    lines: list[tuple[str, str]] = []
    if rng.random() < 0.7:
        lines.append((_fill(rng, rng.choice(TITLES)), "title"))
    if rng.random() < 0.5:
        lines.append((boilerplate_line(rng), "boilerplate"))
    size = 0
    while size < target_bytes:
        paragraph = " ".join(_fill(rng, rng.choice(SENTENCES)) for _ in range(rng.randint(2, 5)))
        lines.append((paragraph, "content"))
        size += len(paragraph.encode("utf-8"))
        roll = rng.random()
        if roll < 0.25:
            lines.append((boilerplate_line(rng), "boilerplate"))
        elif roll < 0.3:
            lines.append((f"{_fill(rng, rng.choice(SENTENCES))[:-1]} in der Hand. Foto: {rng.choice(['KCNA', 'Reuters'])}", "caption"))
    if rng.random() < 0.4:
        lines.append((f"{rng.choice(['Vu Anh', 'Anna Schmidt', 'Ivan Petrow'])} (Laut {rng.choice(OUTLETS)}, {rng.choice(OUTLETS)} )", "byline"))
    for _ in range(rng.randint(1, 4)):
        lines.append((boilerplate_line(rng), "boilerplate"))
    return lines


def make_story(rng: random.Random) -> tuple[str, list[str]]:
    """An agency story: a headline and its paragraphs, told once and copied by many outlets."""
    paragraphs = [" ".join(_fill(rng, rng.choice(SENTENCES)) for _ in range(rng.randint(2, 4))) for _ in range(rng.randint(5, 8))]
    return _fill(rng, rng.choice(TITLES)), paragraphs


def make_copy(rng: random.Random, story: tuple[str, list[str]]) -> list[tuple[str, str]]:
    """One outlet's copy of a story: its dateline, a paragraph left out, a sentence reworded or
    added, its own boilerplate and byline; most of the story's sentences as they were."""
    title, paragraphs = story
    paragraphs = list(paragraphs)
    if len(paragraphs) > 4 and rng.random() < 0.5:
        del paragraphs[rng.randrange(1, len(paragraphs))]
    if rng.random() < 0.7:
        i = rng.randrange(len(paragraphs))
        sentences = paragraphs[i].split(". ")
        sentences[rng.randrange(len(sentences))] = _fill(rng, rng.choice(SENTENCES)).rstrip(".")
        paragraphs[i] = ". ".join(sentences)
    if rng.random() < 0.5:
        paragraphs.append(_fill(rng, rng.choice(SENTENCES)))
    paragraphs[0] = f"{rng.choice(PLACES)} ({rng.choice(['dpa', 'AFP', 'Reuters', 'KNA', 'epd'])}) - {paragraphs[0]}"
    lines: list[tuple[str, str]] = []
    if rng.random() < 0.9:
        lines.append((title, "title"))
    if rng.random() < 0.5:
        lines.append((boilerplate_line(rng), "boilerplate"))
    for paragraph in paragraphs:
        lines.append((paragraph, "content"))
        if rng.random() < 0.2:
            lines.append((boilerplate_line(rng), "boilerplate"))
    if rng.random() < 0.4:
        lines.append((f"{rng.choice(['Vu Anh', 'Anna Schmidt', 'Ivan Petrow'])} (Laut {rng.choice(OUTLETS)}, {rng.choice(OUTLETS)} )", "byline"))
    for _ in range(rng.randint(1, 4)):
        lines.append((boilerplate_line(rng), "boilerplate"))
    return lines


def render(lines: list[tuple[str, str]]) -> str:
    return "\n\n".join(text for text, _ in lines) + "\n"


def generate(n_docs: int, out: str | Path, fmt: str = "files", seed: int = 0, per_dir: int = 1000,
             docs_per_jsonl: int = 10_000, syndicated: int = 0) -> dict:
    """Write ``n_docs`` documents under ``out`` (``docs/`` as .txt files or ``jsonl/`` shards) and
    ``truth.parquet`` (doc_id, text, label per line); with ``syndicated`` > 1, stories of that many
    copies each, the copies of a story spread over the corpus. Same arguments, same bytes."""
    out = Path(out)
    rng = random.Random(seed)
    truth = {"doc_id": [], "text": [], "label": []}
    n_bytes = 0
    shard = None
    n_stories = max(1, n_docs // syndicated) if syndicated > 1 else 0
    stories = [make_story(random.Random(f"{seed}-story-{s}")) for s in range(n_stories)]
    try:
        for i in range(n_docs):
            lines = make_copy(rng, stories[i % n_stories]) if stories else make_document(rng)
            text = render(lines)
            if fmt == "files":
                data = text.encode("utf-8")
                path = out / "docs" / f"{i // per_dir:05d}" / f"{i:08d}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            else:
                if i % docs_per_jsonl == 0:
                    if shard:
                        shard.close()
                    (out / "jsonl").mkdir(parents=True, exist_ok=True)
                    shard = open(out / "jsonl" / f"part-{i // docs_per_jsonl:05d}.jsonl", "wb")
                data = json.dumps({"id": i, "text": text, "source": "bench"}, ensure_ascii=False).encode("utf-8")
                shard.write(data + b"\n")
            n_bytes += len(data)
            doc_id = hashlib.sha256(data).hexdigest()
            for line, label in lines:
                truth["doc_id"].append(doc_id)
                truth["text"].append(line)
                truth["label"].append(label)
    finally:
        if shard:
            shard.close()
    pq.write_table(pa.table(truth), out / "truth.parquet")
    meta = {"docs": n_docs, "bytes": n_bytes, "format": fmt, "seed": seed, "syndicated": syndicated}
    (out / "corpus.json").write_text(json.dumps(meta))
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, required=True)
    parser.add_argument("--format", choices=["files", "jsonl"], default="files")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--syndicated", type=int, default=0, metavar="N",
                        help="stories copied by N outlets each (every article has N - 1 near-copies)")
    args = parser.parse_args()
    print(generate(args.docs, args.out, args.format, args.seed, syndicated=args.syndicated))


if __name__ == "__main__":
    main()
