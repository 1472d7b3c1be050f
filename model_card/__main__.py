"""`python -m model_card OUTPUT_DIR [--repo-id ID]`: (re)write the model card of a training output folder."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import write_model_card


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m model_card", description=__doc__)
    parser.add_argument("output_dir", help="training output folder (docs/output_folder.md)")
    parser.add_argument("--repo-id", help="Hub repo id the usage snippets load from (default: the folder path)")
    args = parser.parse_args(argv)
    try:
        print(write_model_card(args.output_dir, args.repo_id))
    except ValueError as error:  # a missing or damaged record, named
        parser.error(str(error))


if __name__ == "__main__":
    main()
