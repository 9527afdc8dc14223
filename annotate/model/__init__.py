"""Suggestions learned from the team's gold (``annotate model``).

``features`` (clitic-aware tokens and what the taggers see of them), ``tagger`` (a saved model
and what it finds), ``train`` (learn from the latest pull's gold, score on its test split),
``suggest`` (pre-annotations on the tasks nobody has started, a control slice withheld) and
``report`` (what the suggestions did to the submitted work).
"""
