from __future__ import annotations

from django import forms

from pipeline.web.shares.models import DEFAULT_DAYS, DEFAULT_DOWNLOADS, MAX_DAYS, MAX_DOWNLOADS

CONSENT = "I have my client's consent to email them this link"


class SendForm(forms.Form):
    """What a therapist fills in to send a track; the labels are the controls' names."""

    client_email = forms.EmailField(
        label="Client's email", widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    locale = forms.ChoiceField(label="Language")
    consent = forms.BooleanField(
        label=CONSENT,
        required=True,
        error_messages={"required": "Please confirm that your client agreed to be emailed."},
    )
    days = forms.IntegerField(
        label="Link expires after (days)", min_value=1, max_value=MAX_DAYS, initial=DEFAULT_DAYS
    )
    downloads = forms.IntegerField(
        label="Downloads allowed", min_value=1, max_value=MAX_DOWNLOADS, initial=DEFAULT_DOWNLOADS
    )

    def __init__(self, *args, languages: list[tuple[str, str]], **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        field = self.fields["locale"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = languages
        if languages:
            field.initial = languages[0][0]
