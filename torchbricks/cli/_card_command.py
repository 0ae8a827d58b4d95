"""``torchbricks card MODEL``: write a model folder's card (``README.md``) again, e.g. after new metrics."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_card_command(commands: argparse._SubParsersAction) -> None:
    """Register ``card`` on the ``torchbricks`` parser."""
    card = commands.add_parser(
        "card",
        help="write a model folder's model card (README.md, Hugging Face layout) again",
        description=(
            "Write the model card of a saved model: YAML front matter (library_name, tags, datasets, model-index "
            "with the metrics) and a body (tasks and classes, training, parameters, GMACs, latency, graph, usage). "
            "Metrics come from the train run the folder belongs to (RUN/model), or from --metrics."
        ),
    )
    card.add_argument("model", help="model folder")
    card.add_argument("--run", metavar="DIR", help="the train run's folder (default: the model's parent, if it is one)")
    card.add_argument("--metrics", metavar="FILE", help="a metrics.json from torchbricks evaluate (replaces the run's)")
    card.add_argument("--output", metavar="FILE", help="write the card here instead of MODEL/README.md")
    card.add_argument("--no-latency", action="store_true", help="leave out the measured latency")
    card.set_defaults(handler=run_card)


def run_card(arguments: argparse.Namespace) -> int:
    """Load the model, write its card, and keep ``checksums.sha256`` in step with the new ``README.md``."""
    from torchbricks.assembly import rewrite_card

    run = Path(arguments.run) if arguments.run else None
    path, sources = rewrite_card(
        arguments.model, run=run, metrics=arguments.metrics, measure=not arguments.no_latency, target=arguments.output
    )
    metrics = "; ".join(f"{task}: {len(values)} metrics" for task, values in sources.metrics.items()) or "no metrics"
    print(f"Wrote {path} ({metrics}{f'; run {sources.run_folder}' if sources.run_folder else ''})")
    return 0
