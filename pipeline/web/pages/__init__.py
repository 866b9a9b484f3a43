"""The public pages: the collection index and each resource page, from the site templates."""
