"""The published site: page data from the manifests and scripts, templates, and the writer.

:mod:`pipeline.site.context` makes the frozen page data, :mod:`pipeline.site.render` the
Jinja2 environment both the static site and ``voicetrack serve`` render with,
:mod:`pipeline.site.publish` writes ``out/site/``, :mod:`pipeline.site.feeds` its podcast
feeds and :mod:`pipeline.site.preview` serves it on 127.0.0.1 with HTTP Range support.
"""
