"""Text patterns of page chrome, end-of-article markers and date-only lines, in the languages of the evaluation
set (en, de, fr, es, it, pl, pt, nl)."""

from __future__ import annotations

import re

CHROME = re.compile(
    r"cookie|newsletter|\babonn|subscribe|sign[ -]?up\b|\binscri[bv]|\banmelden|"
    r"all rights reserved|alle rechte|tous droits|todos los derechos|wszelkie prawa|©|\(c\) ?\d{4}|"
    r"^(?:foto|photo|bild|image|credit|fotos?|zdj[eę]cie|źródło|quelle|source|fuente|fonte|via)s? ?:|"
    r"getty ?images|shutterstock|istock|\bimago\b|/dpa\b|\bdpa/|pixelio|pixabay|unsplash|"
    r"^(?:tags?|schlagw[oö]rter|stichw[oö]rter|themen|kategorien?|category|categories|filed under|"
    r"posted in|tagged|temas|etiquetas|tagi|mots-cl[ée]s)\b ?:?|this entry was posted|"
    r"dieser eintrag wurde|bookmark the permalink|creative commons|licensed under|lizenziert|"
    r"sofern nicht anders|\bbild ?: ?[A-Z]|\bfotos? ?: ?[A-Z]|crédits? photos?|^abbildung ?:|"
    r"kommentare? (?:verfassen|schreiben|abgeben)|keine kommentare|bloggern gefällt|einloggen|eingeloggt|"
    r"push notifications|feedback|\bbewertung|\bbewerten|rate this|"
    r"^(?:zuletzt )?(?:aktualisiert|letzte änderung|last (?:modified|updated)|updated|published)\b|"
    r"^[-–— ]*(?:advertisement|anzeige|werbung|publicidad|publicité|reklama|externer inhalt)[-–— ]*$|"
    r"weiterlesen\?|articles? gratuits?|\bim abo\b|ein abo\b|"
    r"^(?:read (?:more|also|next)|lesen sie (?:auch|mehr)|mehr zum thema|czytaj (?:też|także|więcej)|"
    r"le puede interesar|(?:à )?lire aussi|leggi anche|lee también|leia também|read|lesen sie dazu)\b ?:",
    re.IGNORECASE,
)
WEAK_CHROME = re.compile(
    r"\bprivacy\b|datenschutz|impressum|\bimprint\b|terms of (?:use|service)|nutzungsbedingungen|"
    r"\bshare\b|\bteilen\b|\bpartager\b|\bcompartir\b|udostępnij|follow us|folgen sie uns|folge uns|"
    r"suivez-nous|s[ií]guenos|like us on|liken sie|\bdonat|\bspende|unterstütze|support us|wesprzyj|"
    r"faire un don|\blog ?in\b|einloggen|registrier|zurück|back to top|nach oben|"
    r"^(?:by|von|par|por|przez|door) [A-ZÀ-Ž][^ ]+(?: [A-ZÀ-Ž][^ ]+){0,3}$|"
    r"^(?:autor|author|auteur|redaktion)(?:in)? ?:",
    re.IGNORECASE,
)
END_MARKER = re.compile(
    r"^(?:related|more (?:from|on|in|stories|news|articles)|read (?:more|next)|recommended|popular|trending|"
    r"latest (?:news|posts|articles|stories)|you (?:may|might) also|also on|further reading|"
    r"about the author|comments?\b|leave a (?:reply|comment)|share (?:this|the)|subscribe|newsletter|"
    r"verwandte|ähnliche|weitere (?:artikel|beiträge|news|meldungen|themen|nachrichten|informationen|\w*tipps)|"
    r"die redaktion empfiehlt|top[- ]themen|entdecke|siehe auch|"
    r"mehr (?:zum|aus|von|artikel|news|themen|zu)|lesen sie (?:auch|mehr)|schon gelesen|"
    r"das könnte|(?:dich|sie) auch interessieren|auch interessant|interessante|empfehlungen|zum weiterlesen|über den autor|"
    r"über die autorin|kommentare?|neueste|aktuelle (?:artikel|beiträge|news)|"
    r"teilen|nächster artikel|vorheriger artikel|"
    r"articles? (?:similaires|liés|connexes)|à lire|lire aussi|sur le même sujet|commentaires|vos réactions|"
    r"art[ií]culos relacionados|te puede interesar|le puede interesar|m[aá]s (?:sobre|noticias)|"
    r"comentarios|czytaj|zobacz (?:też|także)|podobne|komentarze|polecane|"
    r"leia (?:também|mais)|veja também|notícias relacionadas|"
    r"articoli correlati|leggi anche|potrebbe interessarti|gerelateerde|lees ook)",
    re.IGNORECASE,
)
DATE_ONLY = re.compile(
    r"^[\W_]*(?:(?:mon|tue|wed|thu|fri|sat|sun|mo|di|mi|do|fr|sa|so|montag|dienstag|mittwoch|donnerstag|"
    r"freitag|samstag|sonntag)[a-z]*\.?,? )?"
    r"(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}\.? ?[A-Za-zäéûó]+\.? \d{2,4}|[A-Za-zäéûó]+\.? \d{1,2},? \d{4})"
    r"(?:,? (?:um )?\d{1,2}[:.]\d{2}(?: ?(?:uhr|am|pm|h))?)?[\W_]*$",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"[.!?…\"“”»«)]\s*$")
