package ceremony

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// FingerprintBytes is how many leading bytes of the SHA-256 digest the short
// form and the words show: 64 bits, 16 hex digits, 8 words.
const FingerprintBytes = 8

// Fingerprint names the exact bytes about to be signed so that people in
// the room, or on the phone, can check that they see the same thing: the
// full SHA-256, and its first 8 bytes as grouped hex and as PGP words.
type Fingerprint struct {
	// SHA256 is the full digest, lowercase hex.
	SHA256 string `json:"sha256"`
	// Short is the first 8 bytes as hex in groups of two bytes:
	// "3f1a 9c02 77be 0d41".
	Short string `json:"short"`
	// Words are the first 8 bytes in the PGP word list, to be read aloud.
	Words []string `json:"words"`
}

// FingerprintOf fingerprints payload, the exact bytes that are signed.
func FingerprintOf(payload []byte) Fingerprint {
	sum := sha256.Sum256(payload)
	head := sum[:FingerprintBytes]
	groups := make([]string, 0, FingerprintBytes/2)
	for i := 0; i < len(head); i += 2 {
		groups = append(groups, hex.EncodeToString(head[i:i+2]))
	}
	return Fingerprint{
		SHA256: hex.EncodeToString(sum[:]),
		Short:  strings.Join(groups, " "),
		Words:  PGPWords(head),
	}
}

// String is the short form followed by its words:
// "3f1a 9c02 77be 0d41 (cowbell Medusa …)".
func (f Fingerprint) String() string {
	return f.Short + " (" + strings.Join(f.Words, " ") + ")"
}

// PGPWords spells b in the PGP word list (Juola and Zimmermann, 1995): a
// byte at an even position takes its two-syllable word, a byte at an odd
// position its three-syllable word, so that a swapped, dropped or repeated
// byte is heard.
func PGPWords(b []byte) []string {
	words := make([]string, len(b))
	for i, c := range b {
		if i%2 == 0 {
			words[i] = pgpEvenWords[c]
		} else {
			words[i] = pgpOddWords[c]
		}
	}
	return words
}

// pgpEvenWords are the two-syllable words, for bytes at even positions,
// indexed by byte value. The list is in the public domain.
var pgpEvenWords = [256]string{
	/* 0x00 */ "aardvark", "absurd", "accrue", "acme", "adrift", "adult", "afflict", "ahead",
	/* 0x08 */ "aimless", "Algol", "allow", "alone", "ammo", "ancient", "apple", "artist",
	/* 0x10 */ "assume", "Athens", "atlas", "Aztec", "baboon", "backfield", "backward", "banjo",
	/* 0x18 */ "beaming", "bedlamp", "beehive", "beeswax", "befriend", "Belfast", "berserk", "billiard",
	/* 0x20 */ "bison", "blackjack", "blockade", "blowtorch", "bluebird", "bombast", "bookshelf", "brackish",
	/* 0x28 */ "breadline", "breakup", "brickyard", "briefcase", "Burbank", "button", "buzzard", "cement",
	/* 0x30 */ "chairlift", "chatter", "checkup", "chisel", "choking", "chopper", "Christmas", "clamshell",
	/* 0x38 */ "classic", "classroom", "cleanup", "clockwork", "cobra", "commence", "concert", "cowbell",
	/* 0x40 */ "crackdown", "cranky", "crowfoot", "crucial", "crumpled", "crusade", "cubic", "dashboard",
	/* 0x48 */ "deadbolt", "deckhand", "dogsled", "dragnet", "drainage", "dreadful", "drifter", "dropper",
	/* 0x50 */ "drumbeat", "drunken", "Dupont", "dwelling", "eating", "edict", "egghead", "eightball",
	/* 0x58 */ "endorse", "endow", "enlist", "erase", "escape", "exceed", "eyeglass", "eyetooth",
	/* 0x60 */ "facial", "fallout", "flagpole", "flatfoot", "flytrap", "fracture", "framework", "freedom",
	/* 0x68 */ "frighten", "gazelle", "Geiger", "glitter", "glucose", "goggles", "goldfish", "gremlin",
	/* 0x70 */ "guidance", "hamlet", "highchair", "hockey", "indoors", "indulge", "inverse", "involve",
	/* 0x78 */ "island", "jawbone", "keyboard", "kickoff", "kiwi", "klaxon", "locale", "lockup",
	/* 0x80 */ "merit", "minnow", "miser", "Mohawk", "mural", "music", "necklace", "Neptune",
	/* 0x88 */ "newborn", "nightbird", "Oakland", "obtuse", "offload", "optic", "orca", "payday",
	/* 0x90 */ "peachy", "pheasant", "physique", "playhouse", "Pluto", "preclude", "prefer", "preshrunk",
	/* 0x98 */ "printer", "prowler", "pupil", "puppy", "python", "quadrant", "quiver", "quota",
	/* 0xa0 */ "ragtime", "ratchet", "rebirth", "reform", "regain", "reindeer", "rematch", "repay",
	/* 0xa8 */ "retouch", "revenge", "reward", "rhythm", "ribcage", "ringbolt", "robust", "rocker",
	/* 0xb0 */ "ruffled", "sailboat", "sawdust", "scallion", "scenic", "scorecard", "Scotland", "seabird",
	/* 0xb8 */ "select", "sentence", "shadow", "shamrock", "showgirl", "skullcap", "skydive", "slingshot",
	/* 0xc0 */ "slowdown", "snapline", "snapshot", "snowcap", "snowslide", "solo", "southward", "soybean",
	/* 0xc8 */ "spaniel", "spearhead", "spellbind", "spheroid", "spigot", "spindle", "spyglass", "stagehand",
	/* 0xd0 */ "stagnate", "stairway", "standard", "stapler", "steamship", "sterling", "stockman", "stopwatch",
	/* 0xd8 */ "stormy", "sugar", "surmount", "suspense", "sweatband", "swelter", "tactics", "talon",
	/* 0xe0 */ "tapeworm", "tempest", "tiger", "tissue", "tonic", "topmost", "tracker", "transit",
	/* 0xe8 */ "trauma", "treadmill", "Trojan", "trouble", "tumor", "tunnel", "tycoon", "uncut",
	/* 0xf0 */ "unearth", "unwind", "uproot", "upset", "upshot", "vapor", "village", "virus",
	/* 0xf8 */ "Vulcan", "waffle", "wallet", "watchword", "wayside", "willow", "woodlark", "Zulu",
}

// pgpOddWords are the three-syllable words, for bytes at odd positions,
// indexed by byte value.
var pgpOddWords = [256]string{
	/* 0x00 */ "adroitness", "adviser", "aftermath", "aggregate", "alkali", "almighty", "amulet", "amusement",
	/* 0x08 */ "antenna", "applicant", "Apollo", "armistice", "article", "asteroid", "Atlantic", "atmosphere",
	/* 0x10 */ "autopsy", "Babylon", "backwater", "barbecue", "belowground", "bifocals", "bodyguard", "bookseller",
	/* 0x18 */ "borderline", "bottomless", "Bradbury", "bravado", "Brazilian", "breakaway", "Burlington", "businessman",
	/* 0x20 */ "butterfat", "Camelot", "candidate", "cannonball", "Capricorn", "caravan", "caretaker", "celebrate",
	/* 0x28 */ "cellulose", "certify", "chambermaid", "Cherokee", "Chicago", "clergyman", "coherence", "combustion",
	/* 0x30 */ "commando", "company", "component", "concurrent", "confidence", "conformist", "congregate", "consensus",
	/* 0x38 */ "consulting", "corporate", "corrosion", "councilman", "crossover", "crucifix", "cumbersome", "customer",
	/* 0x40 */ "Dakota", "decadence", "December", "decimal", "designing", "detector", "detergent", "determine",
	/* 0x48 */ "dictator", "dinosaur", "direction", "disable", "disbelief", "disruptive", "distortion", "document",
	/* 0x50 */ "embezzle", "enchanting", "enrollment", "enterprise", "equation", "equipment", "escapade", "Eskimo",
	/* 0x58 */ "everyday", "examine", "existence", "exodus", "fascinate", "filament", "finicky", "forever",
	/* 0x60 */ "fortitude", "frequency", "gadgetry", "Galveston", "getaway", "glossary", "gossamer", "graduate",
	/* 0x68 */ "gravity", "guitarist", "hamburger", "Hamilton", "handiwork", "hazardous", "headwaters", "hemisphere",
	/* 0x70 */ "hesitate", "hideaway", "holiness", "hurricane", "hydraulic", "impartial", "impetus", "inception",
	/* 0x78 */ "indigo", "inertia", "infancy", "inferno", "informant", "insincere", "insurgent", "integrate",
	/* 0x80 */ "intention", "inventive", "Istanbul", "Jamaica", "Jupiter", "leprosy", "letterhead", "liberty",
	/* 0x88 */ "maritime", "matchmaker", "maverick", "Medusa", "megaton", "microscope", "microwave", "midsummer",
	/* 0x90 */ "millionaire", "miracle", "misnomer", "molasses", "molecule", "Montana", "monument", "mosquito",
	/* 0x98 */ "narrative", "nebula", "newsletter", "Norwegian", "October", "Ohio", "onlooker", "opulent",
	/* 0xa0 */ "Orlando", "outfielder", "Pacific", "pandemic", "Pandora", "paperweight", "paragon", "paragraph",
	/* 0xa8 */ "paramount", "passenger", "pedigree", "Pegasus", "penetrate", "perceptive", "performance", "pharmacy",
	/* 0xb0 */ "phonetic", "photograph", "pioneer", "pocketful", "politeness", "positive", "potato", "processor",
	/* 0xb8 */ "provincial", "proximate", "puberty", "publisher", "pyramid", "quantity", "racketeer", "rebellion",
	/* 0xc0 */ "recipe", "recover", "repellent", "replica", "reproduce", "resistor", "responsive", "retraction",
	/* 0xc8 */ "retrieval", "retrospect", "revenue", "revival", "revolver", "sandalwood", "sardonic", "Saturday",
	/* 0xd0 */ "savagery", "scavenger", "sensation", "sociable", "souvenir", "specialist", "speculate", "stethoscope",
	/* 0xd8 */ "stupendous", "supportive", "surrender", "suspicious", "sympathy", "tambourine", "telephone", "therapist",
	/* 0xe0 */ "tobacco", "tolerance", "tomorrow", "torpedo", "tradition", "travesty", "trombonist", "truncated",
	/* 0xe8 */ "typewriter", "ultimate", "undaunted", "underfoot", "unicorn", "unify", "universe", "unravel",
	/* 0xf0 */ "upcoming", "vacancy", "vagabond", "vertigo", "Virginia", "visitor", "vocalist", "voyager",
	/* 0xf8 */ "warranty", "Waterloo", "whimsical", "Wichita", "Wilmington", "Wyoming", "yesteryear", "Yucatan",
}
