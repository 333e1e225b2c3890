"""Text patterns of page chrome, end-of-article markers and date-only lines, in the languages of the evaluation
set (en, de, fr, es, it, pl, pt, nl)."""

from __future__ import annotations

import re


class Phrases:
    """Alternatives matched on lower-cased text: ``start`` at the start of the text, ``word`` at the start of a
    word, ``anywhere`` anywhere. Three plain regexes instead of one ``IGNORECASE`` alternation with ``\\b`` and
    ``^`` inside: Python's matcher tries every alternative at every position of such a pattern, which cost
    about 6x more and was most of the precision stage's time. For the same reason the alternatives are grouped
    by their first character (:func:`group_alternatives`): at a position whose character starts no group the
    matcher moves on after one test per group, not one per alternative (the chrome patterns' ``anywhere``
    search: 252 -> 130 ms over the 32k short blocks of the evaluation pages, same matches). Only a pattern whose
    every alternative starts with a plain character gets that: one alternative that starts with a group (``(?:a|b)
    c``) made the ``anywhere`` search 2.2x slower (0.22 -> 0.10 ms a page), so such alternatives are written out
    per head (:func:`_each`); a test keeps it so."""

    def __init__(self, start: list[str], word: list[str], anywhere: list[str]) -> None:
        self.sources = (tuple(start), tuple(word), tuple(anywhere))
        self._start = re.compile(group_alternatives(start))
        self._word = re.compile(r"(?<!\w)(?:" + group_alternatives(word) + ")")
        self._anywhere = re.compile(group_alternatives(anywhere))

    def search(self, lowered: str) -> bool:
        """Whether ``lowered`` (the text, lower-cased) holds one of the phrases."""
        return bool(
            self._start.match(lowered) or self._anywhere.search(lowered) or self._word.search(lowered)
        )


def split_alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regex (``|`` outside groups and character classes)."""
    parts: list[str] = []
    depth = start = i = 0
    in_class = False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern.startswith("]", i + 1) or pattern.startswith("^]", i + 1):
                i += 1 + pattern.startswith("^]", i + 1)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def group_alternatives(patterns: list[str]) -> str:
    """One alternation of ``patterns`` with the alternatives that start with the same plain character (or an
    escaped punctuation character) grouped under it (``cookie|credit`` -> ``c(?:ookie|redit)``), in their order
    within each group; alternatives that start with anything else (a group, a class, a character followed by a
    quantifier) stay as they are."""
    if not patterns:  # "" would match every text
        raise ValueError("no alternatives to group")
    groups: dict[str, list[str]] = {}
    rest: list[str] = []
    for alternative in (a for pattern in patterns for a in split_alternatives(pattern)):
        head = plain_head(alternative)
        if head:
            groups.setdefault(head, []).append(alternative[len(head) :])
        else:
            rest.append(alternative)
    grouped = [
        head + (f"(?:{'|'.join(tails)})" if len(tails) > 1 else tails[0]) for head, tails in groups.items()
    ]
    return "|".join(grouped + rest)


def plain_head(alternative: str) -> str | None:
    """The plain first character of a regex alternative (a letter, a digit, ``©``, ``/``, a space, or an escaped
    punctuation character such as ``\\(``) unless a quantifier follows it; None when it starts otherwise."""
    escaped = alternative.startswith("\\") and len(alternative) > 1 and not alternative[1].isalnum()
    head = alternative[:2] if escaped else alternative[:1]
    if not head or alternative[len(head) :].startswith(("?", "*", "+", "{")):
        return None
    return head if escaped or head.isalnum() or head in "©/ " else None


def _each(heads: str, tail: str) -> str:
    """``head1<tail>|head2<tail>|...`` for the ``|``-separated plain ``heads``: one alternative per head, so each
    starts with a letter (:func:`group_alternatives`)."""
    return "|".join(head + tail for head in heads.split("|"))


# A consent line of a form ("By clicking Subscribe, you agree to our terms"): a chrome phrase, and a long notice.
_FORM_CONSENT = r"by (?:clicking|posting|submitting|signing up|continuing|loading)\b[^.]{0,80}\byou (?:agree|consent|accept|acknowledge)"


CHROME = Phrases(
    start=[
        r"(?:foto|photo|bild|image|credit|fotos?|zdj[eę]cie|źródło|quelle|source|fuente|fonte|via)s? ?:",
        r"(?:tags?|schlagw[oö]rter|stichw[oö]rter|themen|kategorien?|category|categories|filed under|posted in|"
        r"tagged|temas|etiquetas|tagi|mots-cl[ée]s)\b ?:?",
        r"abbildung ?:",
        r"(?:zuletzt )?(?:aktualisiert|letzte änderung|last (?:modified|updated)|updated|published)\b",
        r"[-–— ]*(?:advertisement|anzeige|werbung|publicidad|publicité|reklama|externer inhalt)[-–— ]*$",
        r"(?:read (?:more|also|next)|lesen sie (?:auch|mehr)|mehr zum thema|czytaj (?:też|także|więcej)|"
        r"le puede interesar|(?:à )?lire aussi|leggi anche|lee también|leia também|read|lesen sie dazu)\b ?:",
        # author boxes
        r"schreibt (?:seit|für|über)\b",
        # site taglines and app pitches, server error lines
        r"(?:get )?the latest (?:news|on)\b",
        r"(?:warning|notice|deprecated|fatal error|parse error): .* (?:in|on line) ",
        # gallery counters and one-line labels of news sites
        r"(?:(?:image|photo|bild|foto|slide) )?\d+ (?:of|von|sur|de|di|z|/) ?/? ?\d+$",
        r"(?:continue reading|sharing is caring|you may also like|don.t miss|explore further|top stories)\W*$",
        # ad slot labels, reading-time and loading stubs, breadcrumbs, pin prompts, table-of-contents labels,
        # reader polls, sign-in walls, government site banners, feedback prompts (written so that each alternative
        # starts with a letter: group_alternatives files it under that letter, and a block's first character then
        # rules most of them out at once)
        r"advertisement\W*continue reading below|advertisement\W*(?:article|story) continues|continue reading below|"
        r"article continues (?:below|after)|story continues (?:below|after)",
        _each(
            "lesezeit|lesedauer|reading time|temps de lecture|tiempo de lectura|czas czytania|tempo di lettura|"
            "tempo de leitura|leestijd",
            r" ?:? ?\d+",
        ),
        _each(
            "loading|lädt|wird geladen|chargement|cargando|caricamento|ładowanie|carregando",
            r"(?: \w+)?\s*(?:\.\.\.|…)$",
        ),
        _each(
            "home|startseite|accueil|inicio|strona główna|página inicial|página principal|pagina iniziale",
            r"\s*[»›>/|→]",
        ),
        r"pin (?:this|it) for later",
        _each(
            "table of contents|contents|inhaltsverzeichnis|inhalt|sommaire|table des matières|índice|contenidos|"
            "spis treści|indice|inhoudsopgave",
            r"\W*$",
        ),
        r"was this (?:article |page |post )?(?:helpful|useful)|did you find this (?:article |page )?(?:helpful|useful)|"
        r"how helpful|ist (?:dieser|der|das) (?:artikel|beitrag|text|inhalt) hilfreich|"
        r"war (?:dieser|der|das) (?:artikel|beitrag|text|inhalt) hilfreich|"
        r"cet article (?:vous )?a-t-il été utile|cette page (?:vous )?a-t-elle été utile|"
        + _each("¿te|¿le|te|le", r" ha (?:resultado|sido) útil")
        + r"|czy ten artykuł był pomocny|questo articolo (?:ti )?è stato utile|was dit artikel nuttig",
        r"you are not logged in|you must be (?:signed|logged) in|sie sind nicht angemeldet|du bist nicht angemeldet|"
        r"vous n.êtes pas connecté|no has iniciado sesión|nie jesteś zalogowany|non sei connesso|je bent niet ingelogd",
        r"an official website of the",
        r"what do you think\??$|discussion about this post$|was meinen sie\??$|was denkst du\??$|"
        r"qu.en pensez-vous\W*$|¿qué opinas\??$|qué opinas\??$",
        _each("give|send|leave|share", r" (?:us )?(?:your )?feedback\b") + r"|your feedback\b|feedback\b",
        # markup shown as text (a tracking pixel inside <noscript>)
        r"<[a-z]+ [^>]*=[\"']",
    ],
    word=[
        r"abonn",
        r"inscri[bv]",
        r"anmelden",
        r"imago\b",
        r"dpa/",
        r"bild ?: ?[a-zà-ž]",
        r"fotos? ?: ?[a-zà-ž]",
        r"bewertung",
        r"bewerten",
        r"im abo\b",
        # author boxes, app promotion, newsletter offers
        r"is an? (?:senior |staff |contributing )?(?:writer|editor|reporter|correspondent)\b",
        r"our app\b",
        r"the app\b.*\b(?:download|phone)",
        r"tipps\b.*\bper e-?mail",
        # news credit lines, social follow prompts, copyright lines without the sign
        r"contributed (?:to this report|reporting)|reporting by |editing by ",  # also "additional reporting by"
        r"follow [^.]{0,40} on (?:twitter|facebook|instagram|linkedin)",
        r"copyright\W+(?:\d{4}|©)",
        # newsletter confirmations and offers, reading times, news-source prompts, sign-in prompts, consent lines
        # of forms, affiliate disclosures
        # (each alternative starts with a letter, so group_alternatives can file it under that letter)
        r"to your inbox|in your inbox|check your inbox|ins? (?:ihr|dein) (?:e-mail-)?postfach|"
        r"dans votre boîte (?:mail|de réception)|en tu bandeja de entrada",
        r"min(?:ute)?s?\.? read\b|min(?:\.|uten?)? (?:lesezeit|lesedauer)|minutes? de lecture|minutos? de lectura|"
        r"minut czytania|minuti di lettura|minutos de leitura|min(?:uten)? leestijd",
        r"join medium|readers like you",
        r"as a preferred source on google",
        r"sign ?in (?:or|to) (?:register|comment)|log ?in (?:or|to) (?:register|comment)",
        _FORM_CONSENT,
        r"amazon associate|qualifying purchases|may be compensated|"
        r"earn (?:us )?(?:a )?(?:small )?(?:commission|money|compensation)|"
        r"receive (?:us )?(?:a )?(?:small )?(?:commission|money|compensation)|"
        r"make (?:us )?(?:a )?(?:small )?(?:commission|money|compensation)|"
        r"erhalten wir (?:ggf\. |gegebenenfalls |eine )?(?:kleine )?provision|nous (?:percevons|touchons) une commission|"
        r"recibimos una comisión|otrzymujemy prowizję|riceviamo una commissione",
    ],
    anywhere=[
        r"cookie|newsletter|subscribe|sign[ -]?up\b",
        r"all rights reserved|alle rechte|tous droits|todos los derechos|wszelkie prawa|©|\(c\) ?\d{4}",
        r"getty ?images|shutterstock|istock|/dpa\b|pixelio|pixabay|unsplash|crédits? photos?",
        r"this entry was posted|dieser eintrag wurde|bookmark the permalink",
        r"creative commons|licensed under|lizenziert|sofern nicht anders|some rights reserved",
        r"kommentare? (?:verfassen|schreiben|abgeben)|keine kommentare|bloggern gefällt|einloggen|eingeloggt",
        r"push notifications|rate this|weiterlesen\?|articles? gratuits?|ein abo\b",
        # author boxes, magazine and app promotion, reader feedback, affiliate and liability notices
        _each("zeige|alle", r" (?:alle )?beiträge von") + "|view all posts|more posts by",
        r"in der [\w-]+-app\b|jetzt (?:die )?(?:aktuelle )?ausgabe",
        r"hear what you think|letter to the editor|leserbrief",
        r"affiliate|provisions-?link|ohne gewähr|druckfähige|pressefotos",
        r"exklusive (?:angebote|vorteile)|per e-?mail\b.*\b(?:erhalten|tipps)",
        # pagination and search-box lines, file-download labels
        r"es werden die .* angezeigt|showing \d+ ?(?:to|-|–) ?\d+ of|meist gesucht|häufig gesucht",
        r"pdf ?\| ?\d+ ?[km]b\b",
        # browser notices, affiliate disclosures
        _each("slideshow|page|site|content|video|player", " requires javascript") + "|enable javascript",
        _each("update|upgrade|switch", r" to a (?:modern|newer|supported) browser"),
        r"may (?:get|earn|receive) a (?:small )?(?:share|commission)",
    ],
)


class Notices:
    """Phrases of long notices, matched on lower-cased text. The regex runs only on a text that holds one of
    ``keys`` (plain substring tests, which every alternative implies): notices are looked for in blocks of up to
    600 characters, where most of an article's paragraphs are."""

    def __init__(self, keys: tuple[str, ...], patterns: list[str]) -> None:
        self.keys = keys
        self.sources = tuple(patterns)
        self.pattern = re.compile(group_alternatives(patterns))

    def search(self, lowered: str) -> bool:
        """Whether ``lowered`` (the text, lower-cased) holds one of the notices."""
        for key in self.keys:  # a loop, not any(<generator>): this runs on most paragraphs
            if key in lowered:
                return self.pattern.search(lowered) is not None
        return False


NOTICE = Notices(
    keys=(
        "cookie",
        "compensated",
        "commission",
        "share",
        "you agree",
        "you consent",
        "you accept",
        "you ackn",
    ),
    patterns=[
        # cookie consent
        r"we use cookies|this (?:web)?site uses cookies|by continuing to (?:use|browse)[^.]{0,80}cookie|"
        + _each("accept|allow", r" (?:all )?cookies")
        + r"|wir verwenden cookies|verwendet cookies|nutzt cookies|utilise des cookies|utilizamos cookies",
        # affiliate disclosures
        r"may be compensated|may (?:get|earn|receive) a (?:small )?(?:share|commission)|"
        + _each("earn|receive", r" (?:us )?(?:a )?(?:small )?commission"),
        # consent lines of forms
        _FORM_CONSENT,
    ],
)
"""Cookie-consent, affiliate and form-consent notices, matched on lower-cased text: dropped up to
``max_notice_chars`` (they run longer than the other chrome lines), so an article paragraph of that length that
says "we use cookies" goes too. Chosen on WCXB's dev pages. The long notices that sessions 5 and 7 tried on half 0
of the evaluation pages (donation appeals, embed placeholders, licence lines) did not carry to half 1 and are not
here (bench/RESULTS.md section 7)."""

WEAK_CHROME = Phrases(
    start=[
        r"(?:by|von|par|por|przez|door) [a-zà-ž][^ ]+(?: [a-zà-ž][^ ]+){0,3}$",
        r"(?:autor|author|auteur|redaktion)(?:in)? ?:",
    ],
    word=[r"privacy\b|imprint\b|share\b|teilen\b|partager\b|compartir\b|donat|spende|log ?in\b"],
    anywhere=[
        r"datenschutz|impressum|terms of (?:use|service)|nutzungsbedingungen",
        r"udostępnij|follow us|folgen sie uns|folge uns|suivez-nous|s[ií]guenos|like us on|liken sie",
        r"unterstütze|support us|wesprzyj|faire un don|einloggen|registrier|zurück|back to top|nach oben",
        r"help us (?:continue|keep)|können wir (?:ihnen )?helfen|can we help",
    ],
)
END_MARKER = re.compile(
    r"^(?:(?:related|more (?:from|on|in|stories|news|articles)|read (?:more|next))\b|"
    r"(?:recommended|popular|trending)(?: (?:for you|reading|posts|articles|stories|news|now|today|this week|"
    r"videos|reads|content))?(?=\W*$)|"
    r"(?:latest (?:news|posts|articles|stories)|also on)\b|you (?:may|might) also|further reading|"
    r"about the author|(?:\d+ )?comments?\b|\d+ (?:responses|replies|kommentare?)\b|other (?:posts|articles|stories) you|"
    r"leave a (?:reply|comment)|share (?:this|the)|subscribe|newsletter|"
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
