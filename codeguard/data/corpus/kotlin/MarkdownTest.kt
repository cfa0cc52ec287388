package com.example.markdown

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertTrue

class MarkdownTest {

    @Test
    fun `headings keep their level`() {
        val blocks = parseBlocks("# Title\n\n### Sub section ###")
        assertEquals(listOf(Block.Heading(1, "Title"), Block.Heading(3, "Sub section")), blocks)
    }

    @Test
    fun `consecutive lines form one paragraph`() {
        val blocks = parseBlocks("first line\nsecond line\n\nnext")
        assertEquals(2, blocks.size)
        val first = assertIs<Block.Paragraph>(blocks.first())
        assertEquals(listOf("first line", "second line"), first.lines)
    }

    @Test
    fun `lists are grouped`() {
        val html = markdownToHtml("- one\n- **two**\n\n1. a\n2. b")
        assertTrue(html.contains("<ul>"), html)
        assertTrue(html.contains("<li><strong>two</strong></li>"), html)
        assertTrue(html.contains("<ol>"), html)
    }

    @Test
    fun `code blocks are escaped and tagged`() {
        val html = markdownToHtml("```kotlin\nval x = a < b\n```")
        assertEquals("<pre><code class=\"language-kotlin\">val x = a &lt; b\n</code></pre>", html)
    }

    @Test
    fun `unclosed fence reports the starting line`() {
        val error = assertFailsWith<MarkdownException> { parseBlocks("text\n\n```\ncode") }
        assertEquals(3, error.line)
    }

    @Test
    fun `links and inline code`() {
        val cases = mapOf(
            "see [docs](https://example.com)" to "<p>see <a href=\"https://example.com\">docs</a></p>",
            "run `make test`" to "<p>run <code>make test</code></p>",
            "*very* nice" to "<p><em>very</em> nice</p>",
        )
        for ((input, expected) in cases) {
            assertEquals(expected, markdownToHtml(input), "input: $input")
        }
    }

    @Test
    fun `argument parsing`() {
        val options = parseArgs(arrayOf("--outline", "README.md", "-o", "out.txt"))
        assertEquals(OutputMode.OUTLINE, options.mode)
        assertEquals("README.md", options.input?.name)
        assertFailsWith<IllegalArgumentException> { parseArgs(arrayOf("--bogus")) }
    }
}
