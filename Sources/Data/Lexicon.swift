import Foundation

/// The closed vocabulary of the `tldr-synth` generator: relations, entities, event / problem /
/// question templates (each with its canonical summary phrase, accepted keywords and body
/// phrasings), filler sentences and titles. Kept to a few hundred distinct words so that a tiny
/// model can learn the language and spend its capacity on reading the post.
///
/// Placeholders: {W} who phrase ("my boyfriend"), {S}/{O}/{P} subject/object/possessive pronoun of
/// the other party, {REL} relation word, {NAME} their name, {A1}/{A2} age tags ("22F"), {N} a small
/// number, {M} a dollar amount, {JOB}, {JOB2}, {PLACE}, {WORKPLACE}, {PETKIND}, {PETNAME}.
enum Lexicon {
    enum Domain: CaseIterable { case partner, family, friend, work, pet }

    struct Relation {
        let word: String
        let keywords: [String]
        let genders: [String]         // "M", "F"
        let domain: Domain
    }

    struct Template {
        let canon: String
        let keywords: [String]
        let bodies: [String]
        let domains: Set<Domain>
        var only: Set<String> = []     // restrict to these relation words (empty: any in the domains)

        func allows(_ r: Relation) -> Bool {
            domains.contains(r.domain) && (only.isEmpty || only.contains(r.word))
        }
    }

    static let social: Set<Domain> = [.partner, .family, .friend]

    /// Every word the generator can emit (and then some), for precomputing stems.
    static let allText: String = {
        var parts: [String] = maleNames + femaleNames + petNames + jobs + places + workplaces + amounts
        for r in relations { parts.append(r.word); parts += r.keywords }
        for t in events + problems + questions { parts.append(t.canon); parts += t.keywords; parts += t.bodies }
        for d in Domain.allCases { parts += intros(for: d); parts += fillers(for: d); parts += titles(for: d) }
        parts += generalFillers + closings + Array(summaryAllowlist) + Array(stopwords)
        parts += ["he him his she her they them", "Long story short, basically so any advice would be appreciated",
                  "thanks in advance for reading all of this"]
        return parts.joined(separator: " ")
    }()

    static let relations: [Relation] = [
        Relation(word: "boyfriend", keywords: ["boyfriend", "bf"], genders: ["M"], domain: .partner),
        Relation(word: "girlfriend", keywords: ["girlfriend", "gf"], genders: ["F"], domain: .partner),
        Relation(word: "husband", keywords: ["husband"], genders: ["M"], domain: .partner),
        Relation(word: "wife", keywords: ["wife"], genders: ["F"], domain: .partner),
        Relation(word: "mom", keywords: ["mom", "mother"], genders: ["F"], domain: .family),
        Relation(word: "dad", keywords: ["dad", "father"], genders: ["M"], domain: .family),
        Relation(word: "sister", keywords: ["sister"], genders: ["F"], domain: .family),
        Relation(word: "brother", keywords: ["brother"], genders: ["M"], domain: .family),
        Relation(word: "best friend", keywords: ["friend"], genders: ["M", "F"], domain: .friend),
        Relation(word: "roommate", keywords: ["roommate"], genders: ["M", "F"], domain: .friend),
        Relation(word: "boss", keywords: ["boss", "manager"], genders: ["M", "F"], domain: .work),
        Relation(word: "coworker", keywords: ["coworker", "colleague"], genders: ["M", "F"], domain: .work),
        Relation(word: "dog", keywords: ["dog", "puppy"], genders: ["M", "F"], domain: .pet),
        Relation(word: "cat", keywords: ["cat", "kitten"], genders: ["M", "F"], domain: .pet),
    ]

    static func subreddits(for r: Relation) -> [String] {
        switch r.domain {
        case .partner: return ["relationships", "relationship_advice", "dating_advice"]
        case .family: return ["relationships", "Advice", "family"]
        case .friend: return ["Advice", "offmychest", "relationship_advice"]
        case .work: return ["jobs", "Advice", "careerguidance"]
        case .pet: return r.word == "dog" ? ["dogs", "Dogtraining", "Pets"] : ["cats", "Pets"]
        }
    }

    static let maleNames = ["Jake", "Sam", "Chris", "Mike", "Tom", "Ben", "Alex", "Dan"]
    static let femaleNames = ["Emma", "Anna", "Sarah", "Lily", "Kate", "Amy", "Jess", "Mia"]
    static let malePetNames = ["Max", "Charlie", "Milo"]
    static let femalePetNames = ["Luna", "Bella", "Daisy"]
    static let petNames = malePetNames + femalePetNames
    static let jobs = ["nurse", "teacher", "cook", "driver", "student", "engineer", "cashier", "designer", "mechanic", "accountant"]
    static let places = ["Chicago", "Texas", "London", "Toronto", "Ohio", "Seattle", "Boston", "Denver", "Florida", "Dublin"]
    static let workplaces = ["restaurant", "hospital", "warehouse", "office", "store", "bank", "school", "cafe"]
    static let amounts = ["200", "300", "500", "800", "1000", "1500"]

    /// Capitalised words that must keep their capital letter.
    static let properNouns: Set<String> = Set(maleNames + femaleNames + petNames + places + ["HR"])

    /// Entity words: people, relations, places, jobs, animals. A summary naming one of these that the
    /// post does not mention is hallucinating an entity (a heavier penalty than other content words).
    static let entityStems: Set<String> = {
        var w: [String] = maleNames + femaleNames + petNames + jobs + places + workplaces
        for r in relations { w += Text.words(r.word); w += r.keywords }
        w += ["ex", "neighbor", "landlord", "kid", "son", "daughter", "aunt", "uncle", "cousin", "grandma",
              "grandpa", "fiance", "partner", "teacher", "doctor", "vet", "parents", "family", "team", "customer"]
        return Set(w.map { Text.stem($0.lowercased()) })
    }()

    // MARK: - Intros (introduce the narrator and the other party with age tags)

    static func intros(for d: Domain) -> [String] {
        switch d {
        case .partner: return [
            "My {REL} ({A2}) and I ({A1}) have been together for {N} years.",
            "I ({A1}) have been dating my {REL} {NAME} ({A2}) for {N} years.",
            "So my {REL} ({A2}) and I ({A1}) live together in {PLACE}.",
            "I ({A1}) need some advice about my {REL} ({A2}).",
        ]
        case .family: return [
            "I ({A1}) still live at home with my {REL} ({A2}).",
            "My {REL} ({A2}) and I ({A1}) have always been close.",
            "I ({A1}) need some advice about my {REL} ({A2}).",
        ]
        case .friend: return [
            "My {REL} {NAME} ({A2}) and I ({A1}) have known each other for {N} years.",
            "I ({A1}) live with my {REL} ({A2}) in {PLACE}.",
            "I ({A1}) need some advice about my {REL} ({A2}).",
        ]
        case .work: return [
            "I ({A1}) work as a {JOB} at a {WORKPLACE} and my {REL} ({A2}) is the problem.",
            "I ({A1}) have worked at a {WORKPLACE} for {N} years with my {REL} {NAME} ({A2}).",
            "I ({A1}) need some advice about my {REL} ({A2}).",
        ]
        case .pet: return [
            "I ({A1}) have a {N} year old {REL} named {PETNAME}.",
            "My {REL} {PETNAME} is {N} years old and I adopted {O} last year.",
            "I ({A1}) need some advice about my {REL}.",
        ]
        }
    }

    // MARK: - Events (what happened)

    static let events: [Template] = [
        Template(canon: "{W} forgot my birthday", keywords: ["forgot birthday", "remember birthday", "missed birthday"], bodies: [
            "Last week {S} forgot my birthday.",
            "My birthday was on Friday and {S} completely forgot about it.",
            "{S} did not even remember my birthday this year.",
        ], domains: social),
        Template(canon: "{W} read my private messages", keywords: ["read messages", "read texts", "went through phone"], bodies: [
            "I caught {O} reading my private messages.",
            "{S} went through my phone and read my messages while I was asleep.",
            "Yesterday I found out {S} has been reading my texts.",
        ], domains: social),
        Template(canon: "I lied to {W} about money", keywords: ["lied money", "lie money"], bodies: [
            "I lied to {O} about how much money I spent last month.",
            "I told {O} I paid the bills but I spent the money on clothes.",
            "A while ago I lied to {O} about money and {S} just found out.",
        ], domains: [.partner, .family]),
        Template(canon: "{W} borrowed money and never paid me back", keywords: ["borrowed money", "owes money", "paid back", "pay back"], bodies: [
            "A few months ago {S} borrowed {M} dollars from me and never paid me back.",
            "{S} owes me {M} dollars and keeps saying {S} will pay me back next week.",
            "I lent {O} {M} dollars for rent and {S} still has not paid me back.",
        ], domains: social),
        Template(canon: "{W} invited my ex to a party", keywords: ["invited ex", "ex party"], bodies: [
            "{S} invited my ex to {P} party without telling me.",
            "I showed up to {P} party and my ex was there because {S} invited them.",
        ], domains: [.partner, .friend]),
        Template(canon: "{W} made fun of my weight", keywords: ["weight"], bodies: [
            "At dinner {S} made a joke about my weight in front of everyone.",
            "{S} told me I should lose some weight before summer.",
            "{S} keeps making comments about my weight.",
        ], domains: social),
        Template(canon: "{W} skipped my graduation", keywords: ["graduation"], bodies: [
            "{S} skipped my graduation to go to a concert.",
            "My graduation was last month and {S} never showed up.",
        ], domains: social),
        Template(canon: "{W} told everyone my secret", keywords: ["secret"], bodies: [
            "I told {O} a secret and {S} told everyone at a party.",
            "{S} shared something I told {O} in private with everyone we know.",
            "I trusted {O} with a secret and now everyone knows.",
        ], domains: social),
        Template(canon: "{W} wants to move to another city", keywords: ["move city", "moving city", "move away"], bodies: [
            "{S} got a job offer and wants us to move to another city.",
            "Out of nowhere {S} told me {S} wants to move to another city.",
        ], domains: [.partner]),
        Template(canon: "{W} is still texting {P} ex", keywords: ["texting ex", "texts ex", "talking ex"], bodies: [
            "I found out {S} is still texting {P} ex every day.",
            "I saw {P} phone and {S} has been texting {P} ex for months.",
        ], domains: [.partner]),
        Template(canon: "{W} forgot our anniversary", keywords: ["anniversary"], bodies: [
            "{S} forgot our {N} year anniversary.",
            "Our anniversary was on Saturday and {S} made other plans instead.",
        ], domains: [.partner]),
        Template(canon: "{W} never cleans the kitchen", keywords: ["kitchen", "dishes"], bodies: [
            "{S} leaves dirty dishes in the sink for days.",
            "The kitchen is always a mess because {S} never cleans up.",
        ], domains: [.friend], only: ["roommate"]),
        Template(canon: "{W} throws loud parties every weekend", keywords: ["loud parties", "parties"], bodies: [
            "Every weekend {S} throws loud parties until 3 am.",
            "{S} has people over for loud parties almost every night.",
        ], domains: [.friend], only: ["roommate"]),
        Template(canon: "{W} keeps eating my food", keywords: ["eating food", "eats food", "ate food"], bodies: [
            "{S} keeps eating the food I buy for myself.",
            "Every time I go shopping {S} eats most of my food.",
        ], domains: [.friend], only: ["roommate"]),
        Template(canon: "{W} wants me to pay rent", keywords: ["rent"], bodies: [
            "{S} suddenly wants me to pay {M} dollars in rent.",
            "{S} told me I have to start paying rent every month.",
        ], domains: [.family]),
        Template(canon: "{W} read my diary", keywords: ["diary"], bodies: [
            "I came home and {S} was reading my diary.",
            "{S} found my diary and read the whole thing.",
        ], domains: [.family]),
        Template(canon: "{W} took credit for my work", keywords: ["took credit", "credit"], bodies: [
            "In a meeting {S} presented my project as {P} own work.",
            "{S} took credit for a report I spent weeks on.",
        ], domains: [.work]),
        Template(canon: "{W} yelled at me in front of customers", keywords: ["yelled", "shouted", "yelling"], bodies: [
            "Yesterday {S} yelled at me in front of a customer.",
            "{S} started shouting at me in front of the whole team.",
        ], domains: [.work]),
        Template(canon: "{W} keeps giving me extra shifts", keywords: ["extra shifts", "more shifts"], bodies: [
            "{S} keeps giving me extra shifts without asking.",
            "This month {S} put me on {N} extra shifts.",
        ], domains: [.work]),
        Template(canon: "{W} denied my vacation request", keywords: ["vacation", "time off"], bodies: [
            "I asked for a week of vacation months ago and {S} just denied it.",
            "{S} refused to give me time off for a family wedding.",
        ], domains: [.work]),
        Template(canon: "{W} cut my hours", keywords: ["cut hours", "fewer hours"], bodies: [
            "Last week {S} cut my hours in half.",
            "{S} gave me fewer hours after I asked for a raise.",
        ], domains: [.work]),
        Template(canon: "{W} is spreading rumors about me", keywords: ["rumors", "rumor"], bodies: [
            "I found out {S} has been spreading rumors about me.",
            "{S} told the whole team a rumor about me.",
        ], domains: [.work, .friend]),
        Template(canon: "{W} keeps barking at night", keywords: ["barking", "barks"], bodies: [
            "{S} barks for hours every night.",
            "Every night {S} starts barking at around 2 am.",
        ], domains: [.pet], only: ["dog"]),
        Template(canon: "{W} chewed up my couch", keywords: ["couch"], bodies: [
            "While I was at work {S} chewed up my couch.",
            "I came home and {S} had destroyed the couch.",
        ], domains: [.pet], only: ["dog"]),
        Template(canon: "{W} stopped eating", keywords: ["stopped eating", "not eating", "wont eat"], bodies: [
            "For the past {N} days {S} has not been eating.",
            "{S} suddenly stopped eating {P} food.",
        ], domains: [.pet]),
        Template(canon: "{W} scratches all the furniture", keywords: ["scratches", "scratching"], bodies: [
            "{S} scratches the furniture all day.",
            "{S} has ruined my new chair by scratching it.",
        ], domains: [.pet], only: ["cat"]),
        Template(canon: "{W} pees on the carpet", keywords: ["pees", "peeing", "peed"], bodies: [
            "{S} keeps peeing on the carpet.",
            "Every morning I find that {S} peed on the carpet again.",
        ], domains: [.pet]),
        Template(canon: "{W} bit my neighbor", keywords: ["bit", "bites", "biting"], bodies: [
            "Yesterday {S} bit my neighbor on the hand.",
            "{S} bit my neighbor who came over to say hi.",
        ], domains: [.pet], only: ["dog"]),
    ]

    // MARK: - Problems (the consequence)

    static let problems: [Template] = [
        Template(canon: "now {S} ignores my texts", keywords: ["ignores"], bodies: [
            "Now {S} ignores all my texts.",
            "Since then {S} has been ignoring my texts.",
            "{S} will not answer any of my texts now.",
        ], domains: social.union([.work])),
        Template(canon: "we have not talked in a week", keywords: ["not talked", "not talking", "stopped talking", "not spoken"], bodies: [
            "We have not talked in a week.",
            "We have not spoken since that day.",
        ], domains: social),
        Template(canon: "{S} says I am overreacting", keywords: ["overreacting", "overreact"], bodies: [
            "When I brought it up {S} said I was overreacting.",
            "{S} thinks I am being dramatic and overreacting.",
        ], domains: social.union([.work])),
        Template(canon: "I feel really hurt", keywords: ["hurt"], bodies: [
            "I feel really hurt and I can not stop thinking about it.",
            "Honestly it hurt a lot.",
        ], domains: social),
        Template(canon: "{S} refuses to apologize", keywords: ["apologize", "apologise", "sorry"], bodies: [
            "{S} refuses to apologize.",
            "{S} says {S} did nothing wrong and will not apologize.",
        ], domains: social.union([.work])),
        Template(canon: "I do not trust {O} anymore", keywords: ["trust"], bodies: [
            "I just do not trust {O} anymore.",
            "I feel like I can not trust {O} now.",
        ], domains: [.partner, .friend]),
        Template(canon: "everyone is taking {P} side", keywords: ["side"], bodies: [
            "Everyone in the family is taking {P} side.",
            "Everyone we know is on {P} side.",
        ], domains: [.family, .friend]),
        Template(canon: "I am too stressed to sleep", keywords: ["stressed", "stress"], bodies: [
            "I am so stressed that I can not sleep.",
            "The stress is keeping me up at night.",
        ], domains: social.union([.work])),
        Template(canon: "HR did nothing about it", keywords: ["hr"], bodies: [
            "I talked to HR but they did nothing.",
            "HR said they would look into it but nothing happened.",
        ], domains: [.work]),
        Template(canon: "I am afraid I will lose my job", keywords: ["lose job", "losing job", "fired"], bodies: [
            "I am scared that if I complain I will lose my job.",
            "I can not afford to get fired right now.",
        ], domains: [.work]),
        Template(canon: "my neighbors are complaining", keywords: ["neighbors"], bodies: [
            "My neighbors have started to complain.",
            "The neighbors left an angry note on my door.",
        ], domains: [.pet]),
        Template(canon: "the vet could not find anything wrong", keywords: ["vet"], bodies: [
            "I took {O} to the vet but they could not find anything wrong.",
            "The vet ran some tests and everything came back normal.",
        ], domains: [.pet]),
        Template(canon: "my landlord is threatening to evict me", keywords: ["landlord", "evict"], bodies: [
            "My landlord said I will be evicted if it happens again.",
            "Now my landlord is threatening to evict me.",
        ], domains: [.pet]),
        Template(canon: "I have not slept in days", keywords: ["slept", "sleep"], bodies: [
            "I have barely slept in days.",
            "I have not had a good night of sleep in a week.",
        ], domains: [.pet, .partner, .family]),
        Template(canon: "the damage cost me a lot of money", keywords: ["cost", "damage"], bodies: [
            "Fixing the damage is going to cost me {M} dollars.",
            "The repairs cost me {M} dollars.",
        ], domains: [.pet]),
    ]

    // MARK: - Questions (what the poster asks)

    static let questions: [Template] = [
        Template(canon: "should I break up with {O}?", keywords: ["break up", "breaking up", "end things", "leave"], bodies: [
            "Should I break up with {O}?",
            "I am thinking about breaking up with {O}, is that crazy?",
            "Is this a good reason to end things?",
        ], domains: [.partner]),
        Template(canon: "how do I talk to {O} about it?", keywords: ["talk", "bring up"], bodies: [
            "How do I talk to {O} about this?",
            "I want to bring it up with {O} but I do not know how.",
        ], domains: social.union([.work])),
        Template(canon: "am I wrong to be upset?", keywords: ["wrong"], bodies: [
            "Am I wrong to be upset about this?",
            "Is it wrong that I am this upset?",
        ], domains: social.union([.work])),
        Template(canon: "should I apologize?", keywords: ["apologize", "say sorry"], bodies: [
            "Should I be the one to apologize?",
            "Do I need to say sorry first?",
        ], domains: social),
        Template(canon: "how do I fix this?", keywords: ["fix"], bodies: [
            "How do I fix this?",
            "Is there any way to fix this?",
        ], domains: Set(Domain.allCases)),
        Template(canon: "should I move out?", keywords: ["move out", "moving out"], bodies: [
            "Should I just move out?",
            "I am thinking about moving out, is that too much?",
        ], domains: [.partner, .friend, .family]),
        Template(canon: "should I quit?", keywords: ["quit", "quitting"], bodies: [
            "Should I just quit?",
            "Would it be crazy to quit over this?",
        ], domains: [.work]),
        Template(canon: "should I report {O}?", keywords: ["report"], bodies: [
            "Should I report {O} to HR?",
            "Is it worth reporting {O}?",
        ], domains: [.work]),
        Template(canon: "how do I get {O} to stop?", keywords: ["stop"], bodies: [
            "How do I get {O} to stop?",
            "What can I do to make {O} stop?",
        ], domains: [.pet, .friend], only: ["dog", "cat", "roommate"]),
        Template(canon: "should I take {O} to the vet?", keywords: ["vet"], bodies: [
            "Should I take {O} to the vet?",
            "Is this worth a trip to the vet?",
        ], domains: [.pet]),
        Template(canon: "should I rehome {O}?", keywords: ["rehome", "rehoming", "give away"], bodies: [
            "Should I rehome {O}?",
            "I am starting to think about rehoming {O}.",
        ], domains: [.pet]),
        Template(canon: "what should I do?", keywords: ["what should i do", "what do i do"], bodies: [
            "What should I do?",
            "I honestly do not know what to do, what should I do?",
        ], domains: Set(Domain.allCases)),
    ]

    // MARK: - Filler (background that a summary should leave out)

    /// Remarks about the post itself; no summary (not even a wordy one) repeats these.
    static let metaFillers = [
        "Excuse the formatting, I am on mobile.",
        "Throwaway account for obvious reasons.",
        "English is not my first language.",
        "I have never posted here before.",
        "It is a long story so bear with me.",
        "Some background first.",
    ]

    static let generalFillers = metaFillers + [
        "This has been going on for a while now.",
        "I do not really know who else to ask.",
        "I have been thinking about this all week.",
        "My friends say I should just let it go.",
        "I work as a {JOB} in {PLACE}.",
        "I moved to {PLACE} for work last year.",
        "Everything was fine until last month.",
        "I am a {JOB} and I work long hours.",
        "It is really starting to get to me.",
    ]

    static func fillers(for d: Domain) -> [String] {
        switch d {
        case .partner: return [
            "We met in college and moved in together last year.",
            "Normally {S} is a really sweet person.",
            "{S} works as a {JOB2} and I am a {JOB}.",
            "We also have a {PETKIND} named {PETNAME}.",
            "We were planning to get married next year.",
        ]
        case .family: return [
            "{S} lives about an hour away from me.",
            "We have always been close.",
            "{S} is a {JOB2} and very busy.",
            "Our family has a {PETKIND} named {PETNAME}.",
        ]
        case .friend: return [
            "We have known each other since high school.",
            "We share a two bedroom apartment in {PLACE}.",
            "{S} is a {JOB2} and works nights.",
            "We used to be really close.",
        ]
        case .work: return [
            "I have worked at this {WORKPLACE} for {N} years.",
            "The pay is good and I like my team.",
            "{S} has been at the company for about a year.",
            "I really need this job right now.",
        ]
        case .pet: return [
            "{S} is a rescue and very sweet most of the time.",
            "I adopted {O} from a shelter in {PLACE}.",
            "I live alone in a small apartment.",
            "{S} gets two long walks every day.",
            "I work as a {JOB} so I am gone most of the day.",
        ]
        }
    }

    static let closings = ["Thanks for reading.", "Any advice is appreciated.", "Thanks in advance."]

    static func titles(for d: Domain) -> [String] {
        var t = [
            "Need advice about my {REL}",
            "Not sure what to do about my {REL} ({A2})",
            "{QUESTION}",
            "Not sure what to do anymore",
            "Problem with my {REL}, need advice",
            "Is this normal?",
            "{EVENT}",
        ]
        if d == .pet { t[1] = "Not sure what to do about my {REL}" }
        return t
    }

    /// Words a summary may use without the post containing them (besides stopwords): the stock
    /// phrases of summaries and of padding.
    static let summaryAllowlist: Set<String> = [
        "tldr", "tl", "dr", "advice", "help", "need", "needs", "appreciated", "thanks", "thank", "long", "story",
        "short", "basically", "question", "anyone", "someone", "something", "anything", "feel", "feels", "think",
        "know", "want", "wants", "like", "anymore", "situation", "thing", "things", "lot", "guys", "reddit",
        "reading", "advance", "please", "ok", "okay", "yes", "yeah", "also", "well", "way", "now", "today",
        "recently", "happened", "said", "says", "told", "tell", "really", "upset", "lately",
    ]

    static let stopwords: Set<String> = [
        "i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "you", "your", "he", "him", "his", "she",
        "her", "hers", "it", "its", "they", "them", "their", "a", "an", "the", "and", "or", "but", "so", "if",
        "then", "than", "to", "of", "in", "on", "at", "for", "with", "about", "from", "by", "as", "into", "up",
        "down", "out", "over", "after", "before", "since", "just", "very", "too", "not", "no", "do", "does",
        "did", "done", "dont", "didnt", "doesnt", "is", "am", "are", "was", "were", "be", "been", "being",
        "have", "has", "had", "having", "can", "cant", "could", "will", "would", "wont", "should", "may",
        "might", "must", "what", "how", "why", "when", "where", "who", "which", "that", "this", "these",
        "those", "there", "here", "all", "any", "some", "every", "each", "more", "most", "much", "many",
        "one", "still", "even", "again", "ever", "get", "got", "im", "ive", "its", "thats", "also", "only",
        "other", "another", "own", "same", "such", "because", "while", "until", "though", "although", "yet",
        "both", "either", "neither", "off", "through", "again", "further", "once", "whats", "whether",
    ]
}
