package com.example.markdown

/**
 * A tiny Markdown-to-HTML converter covering headings, paragraphs,
 * unordered lists, fenced code blocks and inline emphasis.
 */
sealed class Block {
    data class Heading(val level: Int, val text: String) : Block()
    data class Paragraph(val lines: List<String>) : Block()
    data class ListBlock(val items: List<String>, val ordered: Boolean = false) : Block()
    data class Code(val language: String?, val body: String) : Block()
    object Rule : Block()
}

class MarkdownException(message: String, val line: Int) : IllegalArgumentException("line $line: $message")

private val HEADING = Regex("""^(#{1,6})\s+(.*?)\s*#*$""")
private val BULLET = Regex("""^\s*[-*+]\s+(.*)$""")
private val NUMBERED = Regex("""^\s*\d+[.)]\s+(.*)$""")
private val FENCE = Regex("""^```\s*(\w+)?\s*$""")

fun parseBlocks(source: String): List<Block> {
    val blocks = mutableListOf<Block>()
    val lines = source.lines()
    var i = 0
    val paragraph = mutableListOf<String>()

    fun flushParagraph() {
        if (paragraph.isNotEmpty()) {
            blocks += Block.Paragraph(paragraph.toList())
            paragraph.clear()
        }
    }

    while (i < lines.size) {
        val line = lines[i]
        val fence = FENCE.matchEntire(line)
        when {
            fence != null -> {
                flushParagraph()
                val start = i
                val body = StringBuilder()
                i++
                while (i < lines.size && !lines[i].startsWith("```")) {
                    body.appendLine(lines[i])
                    i++
                }
                if (i == lines.size) throw MarkdownException("unclosed code fence", start + 1)
                blocks += Block.Code(fence.groups[1]?.value, body.toString())
            }
            line.isBlank() -> flushParagraph()
            line.trim() in setOf("---", "***", "___") -> {
                flushParagraph()
                blocks += Block.Rule
            }
            HEADING.matches(line) -> {
                flushParagraph()
                val (hashes, text) = HEADING.matchEntire(line)!!.destructured
                blocks += Block.Heading(hashes.length, text)
            }
            BULLET.matches(line) || NUMBERED.matches(line) -> {
                flushParagraph()
                val ordered = NUMBERED.matches(line)
                val pattern = if (ordered) NUMBERED else BULLET
                val items = generateSequence(i) { it + 1 }
                    .takeWhile { it < lines.size && pattern.matches(lines[it]) }
                    .map { pattern.matchEntire(lines[it])!!.groupValues[1] }
                    .toList()
                i += items.size - 1
                blocks += Block.ListBlock(items, ordered)
            }
            else -> paragraph += line.trim()
        }
        i++
    }
    flushParagraph()
    return blocks
}

fun String.escapeHtml(): String = buildString(length) {
    for (ch in this@escapeHtml) {
        when (ch) {
            '<' -> append("&lt;")
            '>' -> append("&gt;")
            '&' -> append("&amp;")
            '"' -> append("&quot;")
            else -> append(ch)
        }
    }
}

internal fun renderInline(text: String): String = text.escapeHtml()
    .replace(Regex("""\*\*(.+?)\*\*"""), "<strong>$1</strong>")
    .replace(Regex("""\*(.+?)\*"""), "<em>$1</em>")
    .replace(Regex("""`([^`]+)`"""), "<code>$1</code>")
    .replace(Regex("""\[([^\]]+)]\(([^)\s]+)\)""")) { m ->
        val (label, href) = m.destructured
        """<a href="$href">$label</a>"""
    }

fun Block.toHtml(): String = when (this) {
    is Block.Heading -> "<h$level>${renderInline(text)}</h$level>"
    is Block.Paragraph -> lines.joinToString(" ", prefix = "<p>", postfix = "</p>") { renderInline(it) }
    is Block.ListBlock -> {
        val tag = if (ordered) "ol" else "ul"
        items.joinToString("\n", "<$tag>\n", "\n</$tag>") { "  <li>${renderInline(it)}</li>" }
    }
    is Block.Code -> {
        val cls = language?.let { " class=\"language-$it\"" } ?: ""
        "<pre><code$cls>${body.escapeHtml()}</code></pre>"
    }
    Block.Rule -> "<hr>"
}

fun markdownToHtml(source: String): String = parseBlocks(source).joinToString("\n") { it.toHtml() }
