import { retireReferences } from '../../activities/archive';

const readme = 'scripts/archive/monoliths_20261125/README.md';
const moved = [
  { from: 'scripts/legacy_invoicer.sh', to: 'scripts/archive/monoliths_20261125/legacy_invoicer.sh' },
  { from: 'scripts/legacy/batch.py', to: 'scripts/archive/monoliths_20261125/batch.py' },
];
const retire = (text: string) => retireReferences(text, moved, { replacement: 'unified-scorer', readme });
const named = (old: string) =>
  `\`unified-scorer\` (the unified pipeline; the retired ${old} is archived, see \`${readme}\`)`;

describe('docs that referred to an archived script', () => {
  it('name the replacement and the archive README, in a code span, a command, bare text and a link', () => {
    const doc = [
      'Orders are invoiced every two minutes by `scripts/legacy_invoicer.sh`.',
      'If invoicing falls behind, run `bash ./scripts/legacy_invoicer.sh --now` by hand.',
      'The batch (scripts/legacy/batch.py) scores rows.',
      'Source: [the invoicer](../scripts/legacy_invoicer.sh).',
    ].join('\n');
    const { text, referred } = retire(doc);
    expect(referred).toBe(true);
    expect(text.split('\n')).toEqual([
      `Orders are invoiced every two minutes by ${named('`scripts/legacy_invoicer.sh`')}.`,
      `If invoicing falls behind, run ${named('`scripts/legacy_invoicer.sh`')} by hand.`,
      `The batch (${named('`scripts/legacy/batch.py`')}) scores rows.`,
      `Source: ${named('[the invoicer](../scripts/archive/monoliths_20261125/legacy_invoicer.sh)')}.`,
    ]);
  });

  it('changes nothing on a second pass', () => {
    const once = retire('Run by `scripts/legacy_invoicer.sh`; see [it](scripts/legacy/batch.py).\n').text;
    expect(retire(once)).toEqual({ text: once, referred: false });
  });

  it('leaves longer paths, other names and fenced code blocks alone', () => {
    const doc = [
      'Kept: `old/scripts/legacy_invoicer.sh`, scripts/legacy_invoicer.sh.bak, scripts/legacy/batch.pyc.',
      '`a` and scripts/legacy_invoicer.shx `b`',
      '```sh',
      '*/2 * * * * scripts/legacy_invoicer.sh',
      '```',
      'After the fence: scripts/legacy/batch.py',
    ].join('\n');
    const { text, referred } = retire(doc);
    expect(referred).toBe(true);
    expect(text.split('\n')).toEqual([
      ...doc.split('\n').slice(0, 5),
      `After the fence: ${named('`scripts/legacy/batch.py`')}`,
    ]);
  });

  it('reports a reference only inside a fenced block, without rewriting it', () => {
    const doc = '~~~\nscripts/legacy_invoicer.sh\n~~~\n';
    expect(retire(doc)).toEqual({ text: doc, referred: true });
    expect(retire('No scripts here.\n')).toEqual({ text: 'No scripts here.\n', referred: false });
  });
});
