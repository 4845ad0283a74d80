import { useId, useMemo, useState, type ChangeEvent } from 'react';
import { DATASET_IDS, ENCODER_PRESETS, OPTIMIZERS } from '../engine/config';
import { LOSS_IDS, LOSS_CATALOG } from '../losses/catalog';
import type { ExportedFile } from '../worker/protocol';
import { AugmentPreview } from './augment_preview';
import { editDraft, importWeights, loadPreset, MAX_WEIGHTS_BYTES, startRun } from './controller';
import { DatasetDrop } from './dataset_drop';
import { datasetAdvice, datasetLabel, datasetMissing } from './datasets_info';
import { getPath, setPath } from './draft';
import { draftWithLoss } from './loss_switch';
import { CheckboxField, ListField, NumberField, SelectField, type FieldContext } from './fields';
import { ProtocolFields } from './protocol_fields';
import { CONFIG_PRESETS } from './presets';
import { TargetFields } from './target_fields';
import { encodeConfigHash, parseConfigFile } from './share';
import { actions, usePlayground } from './store';
import { validateDraft } from './validation';

/** Brings a new run's row into view (in the one-column layout the run list is below the editor). */
function showRun(runId: string | null): void {
  if (!runId) return;
  requestAnimationFrame(() =>
    document
      .querySelector(`[data-run-id="${runId}"]`)
      ?.scrollIntoView({ block: 'nearest', behavior: 'smooth' }),
  );
}

async function readFiles(list: FileList | null): Promise<ExportedFile[]> {
  const files = [...(list ?? [])];
  const total = files.reduce((sum, file) => sum + file.size, 0);
  if (total > MAX_WEIGHTS_BYTES)
    throw new Error(
      `the chosen files hold ${(total / 2 ** 20).toFixed(0)} MiB, more than the ${MAX_WEIGHTS_BYTES / 2 ** 20} MiB of weights this app reads; choose one export of a network trained here`,
    );
  const read = await Promise.all(
    files.map(async (file) => ({
      name: file.name,
      mime: file.type,
      bytes: new Uint8Array(await file.arrayBuffer()),
    })),
  );
  // a zip (the TF.js export) is opened by the worker, which sees model.json + weights.bin
  return read;
}

function LossParams({ ctx }: { ctx: FieldContext }) {
  const lossId = String(getPath(ctx.draft, 'loss.id') ?? 'ntxent');
  const def = (LOSS_CATALOG as Record<string, (typeof LOSS_CATALOG)[keyof typeof LOSS_CATALOG] | undefined>)[
    lossId
  ];
  if (!def) return null;
  return (
    <>
      <p className="help loss-description">
        {def.description} Views: {def.minViews}
        {def.maxViews === Infinity ? '+' : def.maxViews !== def.minViews ? `–${def.maxViews}` : ''}
        {def.needsLabels ? ' · uses labels' : ''}
      </p>
      {Object.entries(def.params).map(([name, spec]) => (
        <NumberField
          key={`${lossId}.${name}`}
          ctx={ctx}
          path={`loss.params.${name}`}
          label={`${name} (${spec.exclusiveMin ? '(' : '['}${spec.min}, ${spec.max}], default ${spec.default})`}
          help={spec.help}
          min={spec.min}
          max={spec.max}
          step={spec.integer ? 1 : 'any'}
        />
      ))}
    </>
  );
}

export function ConfigPanel() {
  const draft = usePlayground((state) => state.draft);
  const draftDatasetKey = usePlayground((state) => state.draftDatasetKey);
  const presetId = usePlayground((state) => state.presetId);
  const served = usePlayground((state) => state.served);
  const backend = usePlayground((state) => state.backend);
  const { config, errors } = useMemo(() => validateDraft(draft), [draft]);
  const [importError, setImportError] = useState<string | null>(null);
  const startHintId = useId();
  const ctx: FieldContext = { draft, errors, onChange: editDraft };
  const problems = Object.entries(errors);

  const encoderType = String(getPath(draft, 'encoder.type') ?? 'resnet');
  const encoderJson = JSON.stringify(getPath(draft, 'encoder'));
  const encoderPreset =
    Object.entries(ENCODER_PRESETS).find(([, spec]) => JSON.stringify(spec) === encoderJson)?.[0] ?? 'custom';

  const datasetId = String(getPath(draft, 'dataset.id') ?? '');
  const missing = draftDatasetKey === null && datasetMissing(served, datasetId);
  // why Start is disabled, in one line next to it
  const blocker = !config
    ? `${problems.length} field${problems.length > 1 ? 's need' : ' needs'} fixing first`
    : missing
      ? `${datasetLabel(datasetId)} is not on this server (see Data)`
      : !backend
        ? 'the engine is starting…'
        : backend.active === 'none'
          ? 'no backend could start in this browser'
          : null;

  const onImportConfig = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    try {
      editDraft(parseConfigFile(await file.text(), file.name), '');
      setImportError(null);
      actions.notify('info', `config loaded from ${file.name}`);
    } catch (error) {
      setImportError((error as Error).message);
    }
  };

  const onImportWeights = async (event: ChangeEvent<HTMLInputElement>) => {
    const list = event.target.files;
    try {
      const files = await readFiles(list);
      event.target.value = '';
      if (!config)
        throw new Error('fix the config first: imported weights must match its encoder and projector');
      setImportError(null);
      await importWeights(config, files);
    } catch (error) {
      setImportError((error as Error).message);
    }
  };

  const copyShareLink = async () => {
    if (!config) return;
    const url = `${window.location.origin}${window.location.pathname}${encodeConfigHash(config)}`;
    window.history.replaceState(null, '', url);
    try {
      await navigator.clipboard.writeText(url);
      actions.notify('info', 'share link copied to the clipboard (it is also in the address bar)');
    } catch {
      actions.notify('info', 'share link is in the address bar');
    }
  };

  return (
    <section className="panel config" aria-labelledby="config-title">
      <h2 id="config-title">New run</h2>
      <div className="row">
        <div className="field wide">
          <label htmlFor="preset">Preset</label>
          <select
            id="preset"
            value={presetId}
            onChange={(e) => loadPreset(e.target.value)}
            data-testid="preset"
          >
            <option value="">choose a preset…</option>
            {CONFIG_PRESETS.map((preset) => {
              const absent = datasetMissing(served, String(preset.config.dataset?.id ?? 'fashion-mnist'));
              return (
                <option key={preset.id} value={preset.id}>
                  {preset.label}
                  {absent ? ' (dataset not on this server)' : ''}
                </option>
              );
            })}
          </select>
        </div>
        <div className="field">
          <label htmlFor="run-name">Name</label>
          <input
            id="run-name"
            value={String(getPath(draft, 'name') ?? '')}
            onChange={(e) => editDraft(setPath(draft, 'name', e.target.value))}
          />
        </div>
      </div>

      <fieldset>
        <legend>Data</legend>
        <div className="row">
          <SelectField
            ctx={ctx}
            path="dataset.id"
            label="Dataset"
            options={DATASET_IDS.map((id) => ({
              value: id,
              label: `${datasetLabel(id)}${datasetMissing(served, id) ? ' (not on this server)' : ''}`,
            }))}
            onSelect={(id) => {
              actions.setDraftDataset(null);
              editDraft(setPath(draft, 'dataset.id', id));
            }}
          />
          <NumberField ctx={ctx} path="dataset.trainLimit" label="Train images (0 = all)" min={0} step={1} />
        </div>
        {getPath(draft, 'dataset.id') === 'synthetic' && (
          <div className="row">
            <NumberField ctx={ctx} path="dataset.synthetic.classes" label="Classes" step={1} />
            <NumberField ctx={ctx} path="dataset.synthetic.trainCount" label="Train count" step={1} />
            <NumberField ctx={ctx} path="dataset.synthetic.size" label="Image side" step={1} />
          </div>
        )}
        {missing && (
          <p className="dataset-missing" role="note" data-testid="dataset-missing">
            {datasetAdvice(datasetId)}
          </p>
        )}
        <TargetFields ctx={ctx} />
        <DatasetDrop selectedKey={draftDatasetKey} />
      </fieldset>

      <fieldset>
        <legend>Encoder</legend>
        <div className="row">
          <div className="field">
            <label htmlFor="encoder-preset">Backbone</label>
            <select
              id="encoder-preset"
              value={encoderPreset}
              onChange={(e) => editDraft(setPath(draft, 'encoder', ENCODER_PRESETS[e.target.value]))}
            >
              {encoderPreset === 'custom' && <option value="custom">custom {encoderType}</option>}
              {Object.keys(ENCODER_PRESETS).map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </div>
          {encoderType === 'resnet' && <ListField ctx={ctx} path="encoder.widths" label="Stage widths" />}
          {encoderType === 'resnet' && <ListField ctx={ctx} path="encoder.blocks" label="Blocks per stage" />}
          {encoderType === 'convnet' && <ListField ctx={ctx} path="encoder.channels" label="Channels" />}
          {encoderType === 'mlp' && <ListField ctx={ctx} path="encoder.hidden" label="Hidden sizes" />}
        </div>
        <div className="row">
          <NumberField ctx={ctx} path="projector.layers" label="Projector layers" step={1} />
          <NumberField ctx={ctx} path="projector.hidden" label="Projector hidden" step={1} />
          <NumberField ctx={ctx} path="projector.out" label="Embedding dim" step={1} />
          <CheckboxField ctx={ctx} path="projector.batchNorm" label="BatchNorm" />
        </div>
      </fieldset>

      <fieldset>
        <legend>Loss</legend>
        <SelectField
          ctx={ctx}
          path="loss.id"
          label="Loss"
          options={LOSS_IDS.map((id) => ({ value: id, label: LOSS_CATALOG[id].name }))}
          onSelect={(id) => editDraft(draftWithLoss(draft, id))}
        />
        <LossParams ctx={ctx} />
      </fieldset>

      <fieldset>
        <legend>Views &amp; augmentation</legend>
        {errors.views && (
          <p className="field-error" role="alert" data-testid="field-error">
            {errors.views}
          </p>
        )}
        <div className="row">
          <NumberField ctx={ctx} path="views.large" label="Large views" step={1} />
          <NumberField ctx={ctx} path="views.small" label="Small views" step={1} />
          <NumberField ctx={ctx} path="views.smallSize" label="Small view side" step={1} />
        </div>
        <div className="row">
          <NumberField ctx={ctx} path="augment.flip" label="Flip probability" step="any" />
          <NumberField ctx={ctx} path="augment.grayscale" label="Grayscale probability" step="any" />
          {getPath(draft, 'augment.crop') !== null && (
            <ListField ctx={ctx} path="augment.crop.scale" label="Crop area range" />
          )}
          {getPath(draft, 'augment.jitter') !== null && (
            <NumberField ctx={ctx} path="augment.jitter.brightness" label="Jitter brightness" step="any" />
          )}
          {getPath(draft, 'augment.jitter') !== null && (
            <NumberField ctx={ctx} path="augment.jitter.p" label="Jitter probability" step="any" />
          )}
        </div>
        <AugmentPreview config={config} datasetKey={draftDatasetKey} />
      </fieldset>

      <fieldset>
        <legend>Optimisation</legend>
        <div className="row">
          <NumberField ctx={ctx} path="batchSize" label="Batch size" step={1} />
          <NumberField ctx={ctx} path="epochs" label="Epochs" step="any" />
          <NumberField ctx={ctx} path="stepsPerEpoch" label="Steps per epoch (0 = full)" step={1} />
          <NumberField ctx={ctx} path="seed" label="Seed" step={1} />
        </div>
        <div className="row">
          <SelectField
            ctx={ctx}
            path="optimizer.type"
            label="Optimizer"
            options={OPTIMIZERS.map((o) => ({ value: o, label: o }))}
          />
          <NumberField ctx={ctx} path="optimizer.lr" label="Learning rate" step="any" />
          <NumberField ctx={ctx} path="optimizer.weightDecay" label="Weight decay" step="any" />
          <SelectField
            ctx={ctx}
            path="schedule.type"
            label="Schedule"
            options={[
              { value: 'cosine', label: 'cosine' },
              { value: 'constant', label: 'constant' },
            ]}
          />
          <NumberField ctx={ctx} path="schedule.warmupEpochs" label="Warm-up epochs" step="any" />
        </div>
      </fieldset>

      <fieldset>
        <legend>Evaluation</legend>
        <div className="row">
          <NumberField ctx={ctx} path="eval.every" label="Eval every (steps)" step={1} />
          <NumberField ctx={ctx} path="eval.size" label="Eval images" step={1} />
          <NumberField ctx={ctx} path="eval.bankSize" label="kNN bank" step={1} />
          <NumberField ctx={ctx} path="eval.knnK" label="kNN k" step={1} />
          <NumberField ctx={ctx} path="checkpointEvery" label="Checkpoint every" step={1} />
          <CheckboxField ctx={ctx} path="eval.linearProbe" label="Linear probe" />
        </div>
      </fieldset>

      <ProtocolFields ctx={ctx} />

      {problems.length > 0 && (
        <p className="muted" data-testid="config-problems">
          {problems.length} field{problems.length > 1 ? 's need' : ' needs'} fixing before the run can start.
        </p>
      )}
      <div className="actions" role="group" aria-label="Run actions">
        <button
          type="button"
          className="primary"
          disabled={blocker !== null}
          aria-describedby={blocker ? startHintId : undefined}
          onClick={() => config && void startRun(config).then(showRun)}
          data-testid="start-run"
        >
          Start run
        </button>
        {blocker && (
          <span className="start-hint" id={startHintId} data-testid="start-hint">
            {blocker}
          </span>
        )}
        <button type="button" disabled={!config} onClick={() => void copyShareLink()}>
          Copy share link
        </button>
        <label className="file-button">
          Import config…
          <input
            type="file"
            accept=".json,application/json"
            onChange={(e) => void onImportConfig(e)}
            data-testid="import-config"
          />
        </label>
        <label className="file-button">
          Import weights…
          <input
            type="file"
            multiple
            accept=".safetensors,.json,.bin,.zip"
            onChange={(e) => void onImportWeights(e)}
            data-testid="import-weights"
          />
        </label>
      </div>
      {importError && (
        <p className="field-error" role="alert" data-testid="import-error">
          {importError}
        </p>
      )}
    </section>
  );
}
