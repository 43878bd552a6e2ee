"""Reputation watch: what is said about the institution, in one digest.

Sources (an RSS/Atom alerts feed, Bluesky search, Mastodon hashtags and
mentions) each return ``Match``es; ``links`` unwraps redirectors so the same
article from two sources is one entry; ``matching`` finds the keywords;
``storage.watch`` keeps each match once per watch; ``digest`` renders the
mail; ``notify`` sends it and the immediate alerts; ``run`` puts the stages
in order.
"""
