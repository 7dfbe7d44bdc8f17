"""Convert a model file between formats: python -m engine.convert SRC DST [--format F].

SRC and DST are any of a TF.js folder / model.json (SRC may be an http(s) URL), a .keras
file or folder, a legacy .h5 file or an .engine file; DST's format comes from its path unless
--format says otherwise. For example, a Keras 3 .keras file to a TF.js web model:
    python -m engine.convert digits.keras web_model/
"""
import argparse
import sys

from engine.io import detect_format, load_model, save_model
from engine.io.formats import FORMATS


def convert(source, destination, save_format=None, include_optimizer=True):
    """Load `source` and save it as `destination`; returns the destination format name."""
    model = load_model(source, compile=include_optimizer)
    save_model(model, destination, save_format=save_format, include_optimizer=include_optimizer)
    return detect_format(destination, save_format)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m engine.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("destination")
    parser.add_argument("--format", choices=sorted(FORMATS), default=None,
                        help="the destination format (default: from its path)")
    parser.add_argument("--no-optimizer", action="store_true",
                        help="leave out the compile config and optimizer state")
    args = parser.parse_args(argv)
    try:
        written = convert(args.source, args.destination, args.format,
                          include_optimizer=not args.no_optimizer)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.source} -> {args.destination} ({written})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
