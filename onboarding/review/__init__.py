"""The ministry's review console: the queue of submitted venues and their decisions."""
