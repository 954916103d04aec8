"""Entry point of the `foleygan` console script (placeholder until the CLI lands)."""


def main() -> None:
    raise SystemExit("foleygan: the command line is being built")
