"""Sphinx extension: bibliography labels in the author-year form of the citations.

The text cites as "[Lowe, 2004]" (``bibtex_reference_style = author_year``), but pybtex's
labels are "[Low04]" by default, so a reader could not match a citation to its entry. This
registers the pybtex style ``authoryear``: the labels of `unsrt` entries become "Lowe, 2004",
"Fischler and Bolles, 1981" or "Hestness et al., 2017", with a, b, ... when two entries would
share one. Select it with ``bibtex_default_style = "authoryear"``.
"""
import codecs
import collections
import string

import latexcodec  # noqa: F401  (registers the "ulatex" codec)

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person):
    """"van der Walt", "Hirschmüller": the name particles kept, LaTeX accents decoded."""
    return codecs.decode(" ".join(person.prelast_names + person.last_names), "ulatex")


def _label(entry):
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_surname(p) for p in people] or [entry.fields.get("title", "Anon.")]
    if len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}".replace("{", "").replace("}", "")


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        sorted_entries = list(sorted_entries)
        labels = [_label(entry) for entry in sorted_entries]
        counts, seen = collections.Counter(labels), collections.Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                label += string.ascii_lowercase[seen[label] - 1]
            yield label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
