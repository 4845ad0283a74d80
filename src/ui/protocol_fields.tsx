import { useId } from 'react';
import { PROTOCOL_TYPES, protocolSchema, type ProtocolType } from '../engine/config';
import { getPath } from './draft';
import { CheckboxField, ListField, NumberField, SelectField, type FieldContext } from './fields';

const LABELS: Record<ProtocolType, string> = {
  'few-shot': 'Few-shot episodes (BECLR)',
  'fine-tune': 'Fine-tuning stage (Core-tuning)',
  'contrastive-analysis': 'Contrastive analysis (SepCLR)',
};

const HELP: Record<ProtocolType | 'none', string> = {
  none: 'Plain pretraining: the evaluation above only.',
  'few-shot':
    'Pretrains on some classes; after every evaluation, seeded N-way K-shot episodes on the held-out classes (mean and 95% interval), with and without OpTA.',
  'fine-tune':
    'After pretraining (or from the weights as they are), fine-tunes copies of the encoder: Core-tuning against plain fine-tuning and the linear probe, test accuracy tracked.',
  'contrastive-analysis':
    'Splits the images into a background and a target set (a salient pattern drawn on the target images only); scores the common and, with SepCLR, the salient space.',
};

/**
 * The config panel's Protocol section (RunConfig.protocol, src/engine/protocols/config.ts): none or one of the
 * protocols, with the fields of the chosen one. Choosing another protocol starts from its defaults.
 */
export function ProtocolFields({ ctx }: { ctx: FieldContext }) {
  const type = String(getPath(ctx.draft, 'protocol.type') ?? 'none') as ProtocolType | 'none';
  const onSelect = (value: string) => {
    const { protocol: _dropped, ...rest } = (ctx.draft ?? {}) as Record<string, unknown>;
    // every field of the chosen protocol at its default, so that the fields below show what the run will use
    ctx.onChange(value === 'none' ? rest : { ...rest, protocol: protocolSchema.parse({ type: value }) });
  };
  const id = useId();
  const error = ctx.errors['protocol'] ?? ctx.errors['protocol.type'];
  return (
    <fieldset>
      <legend>Protocol</legend>
      <div className={`field wide${error ? ' invalid' : ''}`}>
        <label htmlFor={id}>Protocol</label>
        <select
          id={id}
          name="protocol.type"
          value={type}
          aria-describedby={`${id}-help`}
          onChange={(e) => onSelect(e.target.value)}
          data-testid="protocol-type"
        >
          <option value="none">none (pretraining only)</option>
          {PROTOCOL_TYPES.map((t) => (
            <option key={t} value={t}>
              {LABELS[t]}
            </option>
          ))}
        </select>
        <small className="help" id={`${id}-help`}>
          {HELP[type] ?? HELP.none}
        </small>
        {error && (
          <small className="field-error" role="alert" data-testid="field-error">
            {error}
          </small>
        )}
      </div>
      {type === 'few-shot' && (
        <>
          <div className="row">
            <ListField
              ctx={ctx}
              path="protocol.pretrainClasses"
              label="Pretraining classes"
              help="empty = the first half; the rest are held out"
            />
            <NumberField ctx={ctx} path="protocol.ways" label="Ways (N)" step={1} />
            <ListField ctx={ctx} path="protocol.shots" label="Shots (K)" help="e.g. 1, 5" />
            <NumberField ctx={ctx} path="protocol.queries" label="Queries per class" step={1} />
            <NumberField ctx={ctx} path="protocol.episodes" label="Episodes" step={1} />
            <NumberField
              ctx={ctx}
              path="protocol.imagesPerClass"
              label="Images per held-out class"
              step={1}
            />
          </div>
          <div className="row">
            <CheckboxField ctx={ctx} path="protocol.opta.enabled" label="OpTA (also report with it)" />
            <NumberField ctx={ctx} path="protocol.opta.epsilon" label="OpTA epsilon" step="any" />
            <NumberField ctx={ctx} path="protocol.opta.ratio" label="OpTA mix ratio (K > 1)" step="any" />
          </div>
        </>
      )}
      {type === 'fine-tune' && (
        <>
          <div className="row">
            <SelectField
              ctx={ctx}
              path="protocol.from"
              label="Fine-tune from"
              options={[
                { value: 'pretrain', label: 'this run’s pretraining' },
                { value: 'weights', label: 'the weights as they are (no pretraining)' },
              ]}
            />
            <NumberField ctx={ctx} path="protocol.epochs" label="Fine-tuning epochs" step="any" />
            <NumberField
              ctx={ctx}
              path="protocol.stepsPerEpoch"
              label="Fine-tuning steps per epoch (0 = full)"
              step={1}
            />
            <NumberField ctx={ctx} path="protocol.batchSize" label="Fine-tuning batch" step={1} />
            <NumberField ctx={ctx} path="protocol.lr" label="Fine-tuning learning rate" step="any" />
            <NumberField
              ctx={ctx}
              path="protocol.evalEvery"
              label="Test accuracy every (steps, 0 = epoch)"
              step={1}
            />
          </div>
          <div className="row">
            <NumberField ctx={ctx} path="protocol.coreTuning.eta" label="Core-tuning eta" step="any" />
            <NumberField ctx={ctx} path="protocol.coreTuning.tau" label="Core-tuning tau" step="any" />
            <NumberField ctx={ctx} path="protocol.coreTuning.alpha" label="Mixing Beta alpha" step="any" />
            <CheckboxField ctx={ctx} path="protocol.coreTuning.hardPairs" label="Hard pair generation" />
            <CheckboxField ctx={ctx} path="protocol.coreTuning.mixup" label="Smooth-boundary mixup" />
            <CheckboxField ctx={ctx} path="protocol.baseline" label="Plain fine-tuning baseline" />
            <CheckboxField ctx={ctx} path="protocol.linearProbe" label="Linear probe baseline" />
          </div>
        </>
      )}
      {type === 'contrastive-analysis' && (
        <div className="row">
          <NumberField ctx={ctx} path="protocol.targetFraction" label="Target fraction" step="any" />
          <NumberField ctx={ctx} path="protocol.patterns" label="Salient patterns" step={1} />
          <NumberField ctx={ctx} path="protocol.strength" label="Pattern strength" step="any" />
          <NumberField ctx={ctx} path="protocol.evalImages" label="Target images evaluated" step={1} />
        </div>
      )}
    </fieldset>
  );
}
