"""`python -m siamese ...` (and `torchrun -m siamese train ...`)."""

from siamese.cli.app import main

if __name__ == "__main__":
    main()
