import Foundation

/// Namespace for the prompt format, the JSONL loaders and the writers.
public enum Datasets {
    /// The TL;DR query format of Stiennon et al. (2020):
    /// `SUBREDDIT: r/{subreddit}\n\nTITLE: {title}\n\nPOST: {post}\n\nTL;DR:`.
    /// Title and post are trimmed of surrounding whitespace; a leading "r/" in `subreddit` is not doubled.
    public static func formatQuery(subreddit: String, title: String, post: String) -> String {
        var sub = Text.trimmed(subreddit)
        if sub.hasPrefix("r/") { sub.removeFirst(2) }
        return "SUBREDDIT: r/\(sub)\n\nTITLE: \(Text.trimmed(title))\n\nPOST: \(Text.trimmed(post))\n\nTL;DR:"
    }

    /// The query with the POST truncated so that `tokenCount(query) <= maxTokens`. The post is cut at
    /// the last line boundary that fits; if not even its first line fits, at the last sentence
    /// boundary (after ".", "?" or "!") that fits; failing that (a first sentence too long), at a
    /// word boundary; failing that, the post is emptied and then the title cut at a word boundary.
    /// If even an empty title and post do not fit, that minimal query is returned. `tokenCount` is
    /// assumed to grow with the text, and is called O(log length) times.
    public static func formatQuery(subreddit: String, title: String, post: String, maxTokens: Int,
                                   tokenCount: (String) -> Int) -> String {
        let full = formatQuery(subreddit: subreddit, title: title, post: post)
        if tokenCount(full) <= maxTokens { return full }
        func fits(_ p: String) -> Bool { tokenCount(formatQuery(subreddit: subreddit, title: title, post: p)) <= maxTokens }
        let p = Text.trimmed(post)
        for cuts in [lineCuts(p), sentenceCuts(p), wordCuts(p)] {
            if let best = longestFitting(cuts, fits) {
                return formatQuery(subreddit: subreddit, title: title, post: best)
            }
        }
        func titleFits(_ t: String) -> Bool { tokenCount(formatQuery(subreddit: subreddit, title: t, post: "")) <= maxTokens }
        if let t = longestFitting([Text.trimmed(title)], titleFits) ?? longestFitting(wordCuts(Text.trimmed(title)), titleFits) {
            return formatQuery(subreddit: subreddit, title: t, post: "")
        }
        return formatQuery(subreddit: subreddit, title: "", post: "")
    }

    /// Re-truncates an already formatted query (as found in `SFTExample.prompt` or
    /// `PreferencePair.prompt`) to `maxTokens`, cutting the POST as `formatQuery` does. A prompt not
    /// in the TL;DR format is cut from the front at word boundaries, keeping its end.
    public static func truncateQuery(_ query: String, maxTokens: Int, tokenCount: (String) -> Int) -> String {
        if tokenCount(query) <= maxTokens { return query }
        if let (sub, title, post) = parseQuery(query) {
            return formatQuery(subreddit: sub, title: title, post: post, maxTokens: maxTokens, tokenCount: tokenCount)
        }
        let words = query.split(separator: " ", omittingEmptySubsequences: false)
        var lo = 1, hi = words.count - 1, best = words.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if tokenCount(words[mid...].joined(separator: " ")) <= maxTokens { best = mid; hi = mid - 1 } else { lo = mid + 1 }
        }
        return words[best...].joined(separator: " ")
    }

    /// (subreddit, title, post) of a query in the TL;DR format, or nil.
    public static func parseQuery(_ query: String) -> (subreddit: String, title: String, post: String)? {
        let head = "SUBREDDIT: r/", tail = "\n\nTL;DR:"
        guard query.hasPrefix(head), query.hasSuffix(tail),
              let t = query.range(of: "\n\nTITLE: "), let p = query.range(of: "\n\nPOST: ", range: t.upperBound..<query.endIndex)
        else { return nil }
        let sub = String(query[query.index(query.startIndex, offsetBy: head.count)..<t.lowerBound])
        let title = String(query[t.upperBound..<p.lowerBound])
        let end = query.index(query.endIndex, offsetBy: -tail.count)
        guard p.upperBound <= end else { return nil }
        return (sub, title, String(query[p.upperBound..<end]))
    }

    // MARK: - Truncation helpers

    /// Non-empty prefixes ending just before a newline, shortest first.
    static func lineCuts(_ s: String) -> [String] {
        var out: [String] = []
        for i in s.indices where s[i] == "\n" {
            let c = String(s[..<i]).trimmingCharacters(in: .whitespacesAndNewlines)
            if !c.isEmpty && out.last != c { out.append(c) }
        }
        return out
    }

    /// Non-empty prefixes ending after sentence punctuation followed by whitespace, shortest first.
    static func sentenceCuts(_ s: String) -> [String] {
        var out: [String] = []
        var i = s.startIndex
        while i < s.endIndex {
            let n = s.index(after: i)
            if ".?!".contains(s[i]) && n < s.endIndex && s[n].isWhitespace {
                let c = Text.trimmed(String(s[..<n]))
                if !c.isEmpty && out.last != c { out.append(c) }
            }
            i = n
        }
        return out
    }

    /// Non-empty prefixes ending before whitespace, shortest first.
    static func wordCuts(_ s: String) -> [String] {
        var out: [String] = []
        for i in s.indices where s[i].isWhitespace {
            let c = Text.trimmed(String(s[..<i]))
            if !c.isEmpty && out.last != c { out.append(c) }
        }
        return out
    }

    /// The longest candidate (candidates sorted by length) that fits, by binary search.
    static func longestFitting(_ cuts: [String], _ fits: (String) -> Bool) -> String? {
        guard let first = cuts.first, fits(first) else { return nil }
        var lo = 0, hi = cuts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if fits(cuts[mid]) { lo = mid } else { hi = mid - 1 }
        }
        return cuts[lo]
    }
}
