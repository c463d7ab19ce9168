"""`python -m helpers.datagen`: rewrite data/*.jsonl from the seed."""

from helpers.datagen import main

if __name__ == "__main__":
    main()
