"""Campaign results out to the operator: ``export`` streams them as CSV or JSON Lines.

``rows`` shapes one contact or one attempt as a plain dictionary (no I/O); ``cells`` makes
those safe to open in a spreadsheet; ``query`` streams them from the database.
"""
