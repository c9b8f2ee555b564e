"""The command line of the course, ``python -m nascourse COMMAND`` (or ``nascourse COMMAND``):

* ``search --strategy S --run-dir DIR`` runs any search of the course (``nascourse.registry`` lists the
  strategies and the spaces each fits), logging every trial (``search.py``) or checkpointing every epoch of a
  relaxation (``relaxation.py``); ``--resume`` continues it. ``darts`` is the older name for the relaxations;
* ``train --genotype G --run-dir DIR`` trains a cell at paper scale (DARTS's evaluation with Cutout),
  checkpointing every epoch (``train.py``);
* ``doctor`` checks that a machine is ready for the course (``doctor.py``);
* ``bench build|info|query`` builds or inspects the tabular benchmark; ``bench nb201-convert`` writes
  NAS-Bench-201's compact CSVs from its official release, ``bench nb201-info`` summarises them (``bench.py``).

Every long command works in a run folder with the rules of ``run_folder.py``.
"""

from __future__ import annotations

import argparse

from .bench import add_bench_parser, bench_command
from .doctor import add_doctor_parser, doctor
from .relaxation import add_darts_parser, darts_command
from .search import add_search_parser, search_command
from .train import add_train_parser, train_command

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nascourse", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The nascourse command line: searches and trainings that survive being interrupted.",
        epilog="examples:\n"
               "  python -m nascourse doctor\n"
               "  python -m nascourse search --strategy regularized --dataset bench --run-dir runs/re\n"
               "  python -m nascourse search --strategy darts --dataset cifar10 --profile full --run-dir runs/darts\n"
               "  python -m nascourse train --genotype runs/darts/best.txt --profile full --run-dir runs/eval\n"
               "  python -m nascourse train --run-dir runs/eval --resume\n"
               "`python -m nascourse COMMAND --help` explains each command.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_search_parser(commands)
    add_train_parser(commands)
    add_doctor_parser(commands)
    add_bench_parser(commands)
    add_darts_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor(args.data)
    if args.command == "bench":
        return bench_command(args)
    if args.command == "search":
        return search_command(args)
    if args.command == "train":
        return train_command(args)
    if args.command == "darts":
        return darts_command(args)
    return 2
