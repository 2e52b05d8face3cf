"""Text normalisation shared by every part that compares words (see `ivr.text.normalize`)."""
