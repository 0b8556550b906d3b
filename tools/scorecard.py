"""Write the book's scorecard (book/_scorecard.md) from the committed results and notebooks: python tools/scorecard.py"""
from smlib.scorecard import write

if __name__ == "__main__":
    print(f"wrote {write()}")
